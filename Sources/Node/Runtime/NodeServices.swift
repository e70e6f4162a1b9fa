import Bridges
import ServiceLifecycle

// The pieces of a node as ServiceLifecycle services. A ServiceGroup shuts its services down in the
// reverse of their order, one after the other: a node lists them publisher, relay, component trees,
// so at SIGTERM it first stops taking deliveries, then flushes the outbox, then closes the publisher
// once every publish is confirmed.

/// Closes the publisher at shutdown, after the services that publish through it are done.
struct PublisherService: Service {
    let publisher: AMQPPublisher

    func run() async throws {
        try? await gracefulShutdown()
        await publisher.close()
    }
}

/// Relays the outbox while the node runs; at shutdown publishes what is left before returning.
struct RelayService: Service {
    let relay: OutboxRelay

    func run() async throws {
        await withTaskCancellationOrGracefulShutdownHandler {
            await relay.run()
        } onCancelOrGracefulShutdown: {
            relay.stop()
        }
        try await relay.drain()
    }
}
