import ActorRuntime
import Bridges
import Logging
import ServiceLifecycle

/// The node's components as actor trees under one root supervisor (the actor system's guardian,
/// one-for-one): a ``ComponentSupervisor`` per hosted component, an instance actor per consumer. It
/// reports the trees' figures (``NodeStats``) and beats the node's ``NodeHeartbeat`` every few seconds,
/// withdraws the figures when it stops, and logs each restart. At shutdown the system stops children before parents: every consumer stops taking
/// deliveries and settles its batches.
/// A guardian that gives up (restart intensity exceeded) fails the service, so the node exits non-zero
/// and `troupe up` restarts it.
struct ComponentTreeService: Service {
    struct Hosted: Sendable {
        let component: String
        let instances: Int
        let makeConsumer: @Sendable () throws -> EnvelopeConsumer
    }

    struct TreeFailed: Error, CustomStringConvertible {
        let description: String
    }

    static let reportEvery: Duration = .seconds(2)

    let node: String
    let heartbeat: NodeHeartbeat
    let hosted: [Hosted]
    let pool: PostgresPool
    let stats: NodeStats
    let logger: Logger

    func run() async throws {
        let system = ActorSystem(name: "node-\(node)", configuration: .init(logger: logger))
        let events = system.events.subscribe()
        let stats = self.stats, logger = self.logger, node = self.node, pool = self.pool, heartbeat = self.heartbeat
        let watching = Task {
            for await event in events {
                guard case .restarted(let path, let reason, let delay) = event else { continue }
                stats.restarted(path)
                logger.warning("actor restarted", metadata: ["actor": "\(path)", "after": "\(delay)", "reason": "\(reason)"])
            }
        }
        for h in hosted {
            _ = try system.spawn(ComponentSupervisor.props(instances: h.instances, stats: stats, make: h.makeConsumer), name: h.component)
        }
        let reporting = Task {
            while !Task.isCancelled {
                do {
                    try await heartbeat.beat(pool: pool)
                    try await stats.report(node: node, pool: pool)
                } catch {
                    logger.debug("node stats not reported", metadata: ["reason": "\(error)"])
                }
                try? await Task.sleep(for: Self.reportEvery)
            }
        }
        let termination = await withGracefulShutdownHandler {
            await system.terminated()
        } onGracefulShutdown: {
            Task { await system.shutdown() }
        }
        reporting.cancel()
        watching.cancel()
        await reporting.value
        try? await stats.withdraw(node: node, pool: pool)        // a stopped node has no figures to show
        if case .failed(let reason) = termination { throw TreeFailed(description: "the components' root supervisor gave up: \(reason)") }
    }
}
