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
    /// How long a detached run may go without renewing its claim before another node may claim the job
    /// again (its node died).
    public static let defaultLease: Duration = .seconds(600)
    public var lease: Duration = defaultLease

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
        switch work {
        case .transaction(let work):
            do {
                return try await pool.transaction { db -> Int? in
                    guard try claim(db, node: node, run: nil) else { return nil }
                    let rows = try work(db)
                    try finish(db, started: started, run: nil, result: JobResult(rows: rows, summary: "\(rows) rows"))
                    return rows
                }
            } catch {
                // The transaction rolled back, claim and all: say so, and run again at the next tick.
                try? await pool.withConnection { db in
                    try recordFailure(db, started: started, node: node, summary: "\(error)")
                }
                throw error
            }
        case .detached(let work):
            // The run's id is chosen before the claim, so a claim retried after a lost COMMIT finds itself.
            let run = UUID.v7()
            guard try await pool.transaction({ db in try claim(db, node: node, run: run) }) else { return nil }
            let result = await withTaskGroup(of: JobResult?.self) { group -> JobResult in
                group.addTask {
                    do { return try await work(pool) } catch { return JobResult(rows: 0, summary: "\(error)", failed: true) }
                }
                group.addTask { await renewLease(pool, run: run); return nil }
                var result = JobResult(rows: 0, summary: "cancelled", failed: true)
                if let first = await group.next(), let done = first { result = done }
                group.cancelAll()
                return result
            }
            try await pool.withConnection { db in try finish(db, started: started, run: run, result: result) }
            if result.failed { throw JobFailed(summary: result.summary) }
            return result.rows
        }
    }

    /// Takes the job's lock and, when it is due, marks the run started (a detached run with its id and
    /// `running_since`). - Returns: whether this node runs it.
    private func claim(_ db: PostgresConnection, node: String, run: UUID?) throws -> Bool {
        let locked: Bool = try db.query("SELECT pg_try_advisory_xact_lock(hashtext(current_schema() || '.troupe.job.' || $1)) AS ok",
                                        [name]).rows[0].decode("ok")
        guard locked else { return false }
        // Due a period after the last run, at `next_run_at` when a run asked for a sooner one (a retry, the
        // end of a vendor's wait; a changed period takes effect at once), or now when an operator asked.
        return try db.query("""
            INSERT INTO schedule_runs (job, last_run_at, running_since, run_id, node)
            VALUES ($1, now(), CASE WHEN $3::uuid IS NOT NULL THEN now() END, $3::uuid, $4)
            ON CONFLICT (job) DO UPDATE SET last_run_at = now(), next_run_at = NULL, requested_at = NULL,
                running_since = EXCLUDED.running_since, run_id = EXCLUDED.run_id, node = EXCLUDED.node
            WHERE schedule_runs.run_id = $3::uuid
               OR ((schedule_runs.requested_at IS NOT NULL OR schedule_runs.next_run_at <= now()
                    OR schedule_runs.last_run_at + make_interval(secs => $2) <= now())
                   AND (schedule_runs.running_since IS NULL OR schedule_runs.running_since < now() - make_interval(secs => $5)))
            """, [name, period.inSeconds, run, node, lease.inSeconds]).affectedRows == 1
    }

    /// Keeps a detached run's claim while it works (until cancelled), so a long run is not taken for a
    /// dead one.
    private func renewLease(_ pool: PostgresPool, run: UUID) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: lease / 3)
            if Task.isCancelled { return }
            _ = try? await pool.withConnection { db in
                try db.query("UPDATE schedule_runs SET running_since = now() WHERE job = $1 AND run_id = $2", [name, run])
            }
        }
    }

    /// Records how the run went (a detached run only while the claim is still its own); a result with a
    /// `retryAt` brings the next run forward to it.
    private func finish(_ db: PostgresConnection, started: ContinuousClock.Instant, run: UUID?, result: JobResult) throws {
        let ms = Int((ContinuousClock.now - started).inSeconds * 1000)
        try db.query("""
            UPDATE schedule_runs SET running_since = NULL, duration_ms = $3::int, outcome = $4,
                failures = CASE WHEN $5::boolean THEN failures + 1 ELSE 0 END, next_run_at = LEAST(next_run_at, $6::timestamptz)
            WHERE job = $1 AND run_id IS NOT DISTINCT FROM $2::uuid
            """, [name, run, ms, Self.storable(result.summary), result.failed, result.retryAt])
    }

    /// At most 500 characters, without NUL (which a text column refuses): what `outcome` keeps.
    static func storable(_ text: String) -> String {
        String(text.replacingOccurrences(of: "\u{0}", with: "").prefix(500))
    }

    /// A transaction job whose transaction failed: recorded as a failed run of `node`, due again at once.
    private func recordFailure(_ db: PostgresConnection, started: ContinuousClock.Instant, node: String, summary: String) throws {
        let ms = Int((ContinuousClock.now - started).inSeconds * 1000)
        try db.query("""
            INSERT INTO schedule_runs (job, last_run_at, next_run_at, node, duration_ms, outcome, failures)
            VALUES ($1, now() - make_interval(secs => $2::int / 1000.0), now(), $3, $2::int, $4, 1)
            ON CONFLICT (job) DO UPDATE SET last_run_at = EXCLUDED.last_run_at, next_run_at = now(), node = $3, duration_ms = $2::int,
                outcome = $4, failures = schedule_runs.failures + 1
            """, [name, ms, node, Self.storable(summary)])
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
