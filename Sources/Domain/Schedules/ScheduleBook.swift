import Bridges
import Foundation

/// What `schedule_runs` says of the recurring jobs (`troupe jobs`), and an operator's request to run one now
/// (`troupe jobs run`): the request is a mark the next tick of a node hosting the job honours, so the run is
/// still once per cluster.
public enum ScheduleBook {
    /// One job's line.
    public struct Entry: Sendable, Equatable {
        public let name: String
        public let period: Duration
        public var lastRunAt: Date?
        public var node: String?
        public var durationMs: Int?
        public var outcome: String?
        public var failures = 0
        public var nextRunAt: Date?
        public var runningSince: Date?
        public var requestedAt: Date?
    }

    /// The jobs named, in that order, with what `schedule_runs` knows of each (a job that never ran is
    /// due now; a run whose lease ran out, its node gone, is not running).
    public static func entries(_ jobs: [(name: String, period: Duration)], lease: Duration = RecurringJob.defaultLease,
                               on db: PostgresConnection) throws -> [Entry] {
        let rows = try db.query("""
            SELECT job, NULLIF(last_run_at, '-infinity') AS last_run_at, node, duration_ms, outcome, failures, requested_at,
                   CASE WHEN running_since > now() - make_interval(secs => $3) THEN running_since END AS running_since,
                   NULLIF(LEAST(next_run_at, last_run_at + make_interval(secs => p.period)), '-infinity') AS next_run_at
            FROM schedule_runs JOIN unnest($1::text[], $2::float8[]) AS p(name, period) ON p.name = job
            """, [PostgresArray(jobs.map(\.name)), PostgresArray(jobs.map { $0.period.inSeconds }), lease.inSeconds]).rows
        var known: [String: PostgresRow] = [:]
        for row in rows { known[try row.decode("job")] = row }
        return try jobs.map { job in
            var entry = Entry(name: job.name, period: job.period)
            guard let row = known[job.name] else { return entry }
            entry.lastRunAt = try row.decode("last_run_at")
            entry.node = try row.decode("node")
            entry.durationMs = try row.decode("duration_ms")
            entry.outcome = try row.decode("outcome")
            entry.failures = try row.decode("failures")
            entry.nextRunAt = try row.decode("next_run_at")
            entry.runningSince = try row.decode("running_since")
            entry.requestedAt = try row.decode("requested_at")
            return entry
        }
    }

    /// Asks for a run of `job` at the next tick. - Returns: when it was asked (an earlier request still
    /// pending is kept).
    @discardableResult
    public static func request(_ job: String, on db: PostgresConnection) throws -> Date {
        try db.query("""
            INSERT INTO schedule_runs (job, last_run_at, requested_at) VALUES ($1, '-infinity', now())
            ON CONFLICT (job) DO UPDATE SET requested_at = COALESCE(schedule_runs.requested_at, now())
            RETURNING requested_at
            """, [job]).rows[0].decode("requested_at")
    }

    /// Since when `job` runs, if it runs now (its lease not run out).
    public static func running(_ job: String, lease: Duration = RecurringJob.defaultLease, on db: PostgresConnection) throws -> Date? {
        try db.query("""
            SELECT running_since FROM schedule_runs WHERE job = $1 AND running_since > now() - make_interval(secs => $2)
            """, [job, lease.inSeconds]).rows.first?.decode("running_since")
    }
}
