import Bridges
import Domain
import Logging
import ServiceLifecycle

/// Ticks a node's recurring jobs every `tick`; each job runs once per period across all nodes (see
/// ``RecurringJob``). Stops at shutdown.
struct ScheduleService: Service {
    let jobs: [RecurringJob]
    let pool: PostgresPool
    let logger: Logger
    var tick: Duration = .seconds(5)

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                for job in jobs {
                    do {
                        if let n = try await job.tick(pool), n > 0 { logger.info("job ran", metadata: ["job": "\(job.name)", "rows": "\(n)"]) }
                    } catch {
                        logger.warning("job failed; it runs again at the next tick", metadata: ["job": "\(job.name)", "reason": "\(error)"])
                    }
                }
                try? await Task.sleep(for: tick)
            }
        }
    }
}
