import Bridges
import Foundation

/// A job that runs every `period` once across all nodes, however many nodes host it: each node ticks,
/// and a tick claims the job only inside a transaction that holds the job's advisory lock and finds it
/// due in `schedule_runs` (its next run time passed, or an operator asked for a run: `troupe jobs run`).
///
/// Two kinds of work: a ``Work/transaction`` job works inside the claiming transaction (its work commits
/// with the new run time, or neither does); a ``Work/detached`` job (one that calls out, like a catalog sync)
/// is marked running when claimed and works outside any transaction, so no other node claims it while it
/// runs: until it finishes, or its ``lease`` runs out (its node died).
public struct RecurringJob: Sendable {
    public enum Work: Sendable {
        /// Runs in the claiming transaction; returns a count for the log (rows touched).
        case transaction(@Sendable (PostgresConnection) throws -> Int)
        /// Runs after the claim committed.
        case detached(@Sendable (PostgresPool) async throws -> JobResult)
    }

    public let name: String
    public let period: Duration
    public let work: Work
    /// How long a detached run may take before another node may claim the job again.
    public var lease: Duration = .seconds(600)

    public init(name: String, period: Duration, work: @escaping @Sendable (PostgresConnection) throws -> Int) {
        self.init(name: name, period: period, work: .transaction(work))
    }

    public init(name: String, period: Duration, work: Work) {
        self.name = name
        self.period = period
        self.work = work
    }

    /// The transactional work (tests call it directly). Traps for a detached job.
    public func work(_ db: PostgresConnection) throws -> Int {
        guard case .transaction(let work) = work else { preconditionFailure("\(name) is a detached job") }
        return try work(db)
    }

    /// Runs the job if this node's tick is the one that should, and records the run (node, duration,
    /// outcome). - Returns: the job's count, or nil when another node holds it, it runs elsewhere, or it
    /// is not due.
    @discardableResult
    public func tick(_ pool: PostgresPool, node: String = "") async throws -> Int? {
        let started = ContinuousClock.now
        do {
            switch work {
            case .transaction(let work):
                return try await pool.transaction { db -> Int? in
                    guard try claim(db, node: node, detached: false) else { return nil }
                    let rows = try work(db)
                    try finish(db, started: started, result: JobResult(rows: rows, summary: "\(rows) rows"))
                    return rows
                }
            case .detached(let work):
                guard try await pool.transaction({ db in try claim(db, node: node, detached: true) }) else { return nil }
                let result: JobResult
                do {
                    result = try await work(pool)
                } catch {
                    result = JobResult(rows: 0, summary: "\(error)", failed: true)
                }
                try await pool.withConnection { db in try finish(db, started: started, result: result) }
                if result.failed { throw JobFailed(summary: result.summary) }
                return result.rows
            }
        } catch let error as JobFailed {
            throw error
        } catch {
            // The transaction rolled back (or the work failed): say so, and run again at the next tick.
            try? await pool.withConnection { db in
                try finish(db, started: started, result: JobResult(rows: 0, summary: "\(error)", failed: true, retryAt: Date()), node: node)
            }
            throw error
        }
    }

    /// Takes the job's lock and, when it is due, marks the run started. - Returns: whether this node runs it.
    private func claim(_ db: PostgresConnection, node: String, detached: Bool) throws -> Bool {
        let locked: Bool = try db.query("SELECT pg_try_advisory_xact_lock(hashtext(current_schema() || '.troupe.job.' || $1)) AS ok",
                                        [name]).rows[0].decode("ok")
        guard locked else { return false }
        // Due a period after the last run, or sooner when a run asked for it (`next_run_at`: a retry; a
        // changed period takes effect at once). A little slack (5 % of the period), so the node that ran
        // last time is not beaten by its own clock by a few ms.
        return try db.query("""
            INSERT INTO schedule_runs (job, last_run_at, running_since, node)
            VALUES ($1, now(), CASE WHEN $3 THEN now() END, $4)
            ON CONFLICT (job) DO UPDATE SET last_run_at = now(), next_run_at = NULL, requested_at = NULL,
                running_since = EXCLUDED.running_since, node = EXCLUDED.node
            WHERE (schedule_runs.requested_at IS NOT NULL
                   OR LEAST(schedule_runs.next_run_at, schedule_runs.last_run_at + make_interval(secs => $2))
                      <= now() + make_interval(secs => $2 * 0.05))
              AND (schedule_runs.running_since IS NULL OR schedule_runs.running_since < now() - make_interval(secs => $5))
            """, [name, period.inSeconds, detached, node, lease.inSeconds]).affectedRows == 1
    }

    /// Records how the run went; a result with a `retryAt` brings the next run forward to it. With `node`,
    /// a failed claim's transaction is recorded as a run of that node.
    private func finish(_ db: PostgresConnection, started: ContinuousClock.Instant, result: JobResult, node: String? = nil) throws {
        let ms = Int((ContinuousClock.now - started).inSeconds * 1000)
        try db.query("""
            INSERT INTO schedule_runs (job, last_run_at, next_run_at, node, duration_ms, outcome, failures)
            VALUES ($1, now() - make_interval(secs => $2::int / 1000.0), $5::timestamptz, $6::text, $2::int, $3, 1)
            ON CONFLICT (job) DO UPDATE SET running_since = NULL, duration_ms = $2::int, outcome = $3,
                failures = CASE WHEN $4::boolean THEN schedule_runs.failures + 1 ELSE 0 END,
                next_run_at = LEAST(schedule_runs.next_run_at, $5::timestamptz),
                node = COALESCE($6::text, schedule_runs.node),
                last_run_at = CASE WHEN $6::text IS NULL THEN schedule_runs.last_run_at
                                   ELSE now() - make_interval(secs => $2::int / 1000.0) END
            """, [name, ms, String(result.summary.prefix(500)), result.failed, result.retryAt, node])
    }
}

/// What a detached job's run did: a count for the log, one line for `troupe jobs`, whether it failed, and
/// when it should run again if sooner than its period (a retry).
public struct JobResult: Sendable, Equatable {
    public var rows: Int
    public var summary: String
    public var failed: Bool
    public var retryAt: Date?

    public init(rows: Int, summary: String, failed: Bool = false, retryAt: Date? = nil) {
        self.rows = rows
        self.summary = summary
        self.failed = failed
        self.retryAt = retryAt
    }
}

/// A detached job's run that failed; its summary is recorded in `schedule_runs`.
public struct JobFailed: Error, CustomStringConvertible {
    public let summary: String
    public var description: String { summary }
}
