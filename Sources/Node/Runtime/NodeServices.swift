import Bridges
import Domain
import Logging
import ServiceLifecycle

// The pieces of a node as ServiceLifecycle services. A ServiceGroup shuts its services down in the
// reverse of their order, one after the other: a node lists them publisher, relay, component trees,
// (schedules, edge,) broker shutdown notice, so at SIGTERM the publisher first stops waiting for a broker
// that cannot take its messages, the node stops taking requests and deliveries, flushes the outbox, and
// closes the publisher once every publish is confirmed.

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
/// Publishing what is left fails at once when the broker cannot take it (see ``BrokerShutdownNotice``): the
/// envelopes stay in the outbox, the next relay publishes them, and the node still ends cleanly.
struct RelayService: Service {
    let relay: OutboxRelay
    let logger: Logger

    func run() async throws {
        await withTaskCancellationOrGracefulShutdownHandler {
            await relay.run()
        } onCancelOrGracefulShutdown: {
            relay.stop()
        }
        do {
            try await relay.drain()
        } catch {
            logger.warning("the outbox was not drained at shutdown; its envelopes stay for the next relay", metadata: ["reason": "\(error)"])
        }
    }
}

/// Flushes the edge's ``AnalyticsBuffer`` while the node runs; at shutdown (after the edge stopped taking
/// requests) flushes every row left.
struct AnalyticsFlushService: Service {
    let buffer: AnalyticsBuffer

    func run() async throws {
        await withTaskCancellationOrGracefulShutdownHandler {
            await buffer.run()
        } onCancelOrGracefulShutdown: {
            buffer.stop()
        }
        await buffer.drain()
    }
}

/// Listed last, so a shutdown tells it first: from then on the publisher fails what the broker cannot take
/// (unreachable, or blocking publishing: a memory or disk alarm) instead of waiting for the broker, so the
/// node still ends within its shutdown limit; what failed stays in the outbox.
struct BrokerShutdownNotice: Service {
    let publisher: AMQPPublisher

    func run() async throws {
        try? await gracefulShutdown()
        publisher.stopWaitingForTheBroker()
    }
}
