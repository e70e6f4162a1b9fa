import Bridges
import ServiceLifecycle

// The pieces of a node as ServiceLifecycle services. A ServiceGroup shuts its services down in the
// reverse of their order, one after the other: a node lists them publisher, relay, component trees,
// so at SIGTERM it first stops taking deliveries, then flushes the outbox, then closes the publisher
// once every publish is confirmed.

/// Closes the publisher at shutdown, after the services that publish through it are done.
///
/// A declaration the broker refuses (a queue that exists with other arguments than topology.json's, e.g.
/// after its `queueType` changed) ends the node with the broker's reason: retrying would leave the node
/// running without ever publishing, its outbox growing. Looked at once a second.
struct PublisherService: Service {
    let publisher: AMQPPublisher

    func run() async throws {
        let publisher = self.publisher
        do {
            try await withCleanup {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try? await gracefulShutdown() }
                    group.addTask {
                        while true {
                            try await Task.sleep(for: .seconds(1))
                            if let refusal = publisher.refusal { throw refusal }
                        }
                    }
                    try await group.next()
                    group.cancelAll()
                }
            } cleanup: { await publisher.close() }
        } catch let refusal as AMQPError {
            throw refusal
        } catch {}                                      // cancelled: closed, as at a graceful shutdown
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
