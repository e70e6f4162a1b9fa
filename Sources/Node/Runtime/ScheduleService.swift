import Bridges
import Domain
import Logging
import ServiceLifecycle

/// Ticks a node's recurring jobs every `tick`, each job on its own (a catalog sync waiting on the vendor
/// does not hold back reservation expiry); each job runs once per period across all nodes (see
/// ``RecurringJob``). Stops at shutdown.
struct ScheduleService: Service {
    let jobs: [RecurringJob]
    let pool: PostgresPool
    /// This node's name, recorded with each run.
    let node: String
    let logger: Logger
    var tick: Duration = .seconds(5)

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                for job in jobs { group.addTask { await loop(job) } }
            }
        }
    }

    private func loop(_ job: RecurringJob) async {
        while !Task.isCancelled {
            do {
                if let n = try await job.tick(pool, node: node), n > 0 { logger.info("job ran", metadata: ["job": "\(job.name)", "rows": "\(n)"]) }
            } catch {
                logger.warning("job failed", metadata: ["job": "\(job.name)", "reason": "\(error)"])
            }
            try? await Task.sleep(for: tick)
        }
    }
}
