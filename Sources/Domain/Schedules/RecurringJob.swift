import Bridges
import Foundation

/// A job that runs every `period` once across all nodes, however many nodes host it: each node ticks,
/// and a tick runs the job only inside a transaction that holds the job's advisory lock and finds its
/// last run at least a period old (`schedule_runs`). The job's work commits with the new run time.
public struct RecurringJob: Sendable {
    public let name: String
    public let period: Duration
    /// The work, in the transaction; returns a count for the log (rows touched).
    public let work: @Sendable (PostgresConnection) throws -> Int

    public init(name: String, period: Duration, work: @escaping @Sendable (PostgresConnection) throws -> Int) {
        self.name = name
        self.period = period
        self.work = work
    }

    /// Runs the job if this node's tick is the one that should. - Returns: the job's count, or nil when
    /// another node holds it or it ran less than a period ago.
    public func tick(_ pool: PostgresPool) async throws -> Int? {
        let name = self.name, seconds = period.inSeconds, work = self.work
        return try await pool.transaction { db -> Int? in
            let locked: Bool = try db.query("SELECT pg_try_advisory_xact_lock(hashtext('troupe.job.' || $1)) AS ok", [name]).rows[0].decode("ok")
            guard locked else { return nil }
            // A little slack, so the node that ran last time is not beaten by its own clock by a few ms.
            let due = try db.query("""
                INSERT INTO schedule_runs (job, last_run_at) VALUES ($1, now())
                ON CONFLICT (job) DO UPDATE SET last_run_at = now()
                WHERE schedule_runs.last_run_at <= now() - make_interval(secs => $2 * 0.95)
                """, [name, seconds]).affectedRows == 1
            guard due else { return nil }
            return try work(db)
        }
    }
}
