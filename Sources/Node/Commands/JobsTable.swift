import ActorRuntime
import Bridges
import Domain
import Foundation

/// `troupe jobs`' table: one line a job, times in UTC.
enum JobsTable {
    static func render(_ entries: [ScheduleBook.Entry], now: Date) -> String {
        var lines = [["JOB", "EVERY", "LAST RUN", "NODE", "TOOK", "OUTCOME", "NEXT RUN"].joined(separator: "\t")]
        for e in entries {
            let next: String
            if e.runningSince != nil { next = "running now" }
            else if e.requestedAt != nil { next = "now (asked)" }
            else if let at = e.nextRunAt, at > now { next = Timestamp.format(at) }
            else { next = "now" }
            lines.append([e.name, DurationText.format(e.period), e.lastRunAt.map { Timestamp.format($0) } ?? "never", e.node ?? "-",
                          e.durationMs.map { "\($0) ms" } ?? "-", e.outcome.map { $0.replacingOccurrences(of: "\t", with: " ") } ?? "-",
                          next].joined(separator: "\t"))
        }
        return lines.joined(separator: "\n")
    }
}
