import Bridges
import Foundation
import Synchronization

/// The `/metrics` figures that count whole tables (inbox rows per component, orders per status), taken at
/// most once per ``every`` and shown from then on: counting reads every row, and the inbox holds every
/// delivery of the last 7 days, so a scrape every few seconds would keep the database busy reading it.
final class TableCounts: Sendable {
    struct Counts: Sendable {
        let handled: [(component: String, count: Int)]
        let orders: [(status: String, count: Int)]
    }

    let every: Duration
    private let last = Mutex<(at: ContinuousClock.Instant, counts: Counts)?>(nil)

    init(every: Duration = .seconds(60)) { self.every = every }

    /// The counts, from `db` when the last ones are older than ``every``.
    func current(_ db: PostgresConnection) throws -> Counts {
        if let last = last.withLock({ $0 }), ContinuousClock.now - last.at < every { return last.counts }
        let handled = try db.query("SELECT component, count(*) AS n FROM troupe_inbox GROUP BY component ORDER BY component").rows
            .map { (component: try $0.decode("component", as: String.self), count: try $0.decode("n", as: Int.self)) }
        let orders = try db.query("SELECT status, count(*) AS n FROM orders GROUP BY status ORDER BY status").rows
            .map { (status: try $0.decode("status", as: String.self), count: try $0.decode("n", as: Int.self)) }
        let counts = Counts(handled: handled, orders: orders)
        last.withLock { $0 = (.now, counts) }
        return counts
    }
}
