import ActorRuntime
import Bridges
import Foundation
import Synchronization

/// Every 10 minutes, once per cluster: the conditions an operator must hear of, each an `alert.raised`
/// through ``AlertBook`` (once per condition, again after a quiet period): a component's dead-letter queue
/// above a threshold, the order failure rate of the last window above a threshold, orders stuck (not
/// terminal for too long), wallets below a threshold, the vendor's circuit breaker open on a node, and the
/// catalog sync failing twice in a row.
public struct AdminAlerts: Sendable {
    public struct Thresholds: Sendable, Equatable {
        /// Messages in a component's dead-letter queue.
        public var deadLetters = 1
        /// Failed orders among those that ended in the window (with at least `minimumOrders` of them).
        public var failureRate = 0.2
        public var failureWindow: Duration = .seconds(600)
        public var minimumOrders = 10
        /// How long an order may stay `Processing` without moving.
        public var stuckAfter: Duration = .seconds(1800)
        /// A wallet below this is low.
        public var walletBelow: Decimal = 10
        public init() {}
    }

    public static let jobName = "admin-alerts"

    public let thresholds: Thresholds
    public let book: AlertBook

    public init(thresholds: Thresholds, book: AlertBook) {
        self.thresholds = thresholds
        self.book = book
    }

    /// The recurring job; `deadLetters` reads each component's dead-letter queue depth from the broker
    /// (nil for a queue not read, nil for all when the broker could not be read: what was not read is left
    /// out of the run, neither raised nor taken for gone).
    public func job(every: Duration = .seconds(600), readTimeout: Duration = .seconds(30),
                    deadLetters: @escaping @Sendable () async -> [String: Int?]?) -> RecurringJob {
        RecurringJob(name: Self.jobName, period: every, work: .detached { pool in
            // The broker may hold a read for ever (a blocked librabbitmq call cannot be cancelled): no answer
            // within `readTimeout` is no answer, and the read is left behind.
            let depths = await Self.first(within: readTimeout, deadLetters)
            let raised = try await pool.transaction { db in
                let found = try conditions(deadLetters: depths, on: db)
                return (found.conditions.count, try book.record(found, scope: Self.jobName, producer: .notification, on: db).count)
            }
            let unread = depths.map { $0.values.filter { $0 == nil }.count }
            return JobResult(rows: raised.1, summary: "\(raised.0) condition(s), \(raised.1) alerted"
                             + (unread == nil ? "; dead-letter queues not read (broker unreachable)"
                                : unread! > 0 ? "; \(unread!) dead-letter queue(s) not read" : ""))
        })
    }

    /// What `read` answers within `limit`, or nil; a read that never ends is not waited for (a task group
    /// would wait for it, cancelled or not).
    static func first<T: Sendable>(within limit: Duration, _ read: @escaping @Sendable () async -> T?) async -> T? {
        let once = Once()
        return await withCheckedContinuation { (answer: CheckedContinuation<T?, Never>) in
            Task { let value = await read(); if once.claim() { answer.resume(returning: value) } }
            Task { try? await Task.sleep(for: limit); if once.claim() { answer.resume(returning: nil) } }
        }
    }

    /// True for the first caller only.
    final class Once: Sendable {
        private let done = Mutex(false)
        func claim() -> Bool { done.withLock { done in defer { done = true }; return !done } }
    }

    /// The conditions that hold now.
    public func conditions(deadLetters: [String: Int?]?, on db: PostgresConnection) throws -> AlertBook.Findings {
        let t = thresholds
        var found = AlertBook.Findings()
        guard let deadLetters else { found.unchecked.append("dead-letters:"); return try conditions(t, into: found, on: db) }
        for (component, depth) in deadLetters.sorted(by: { $0.key < $1.key }) {
            guard let depth else { found.unchecked.append("dead-letters:\(component)"); continue }
            guard depth >= t.deadLetters else { continue }
            found.append(.init(key: "dead-letters:\(component)", kind: "dead-letters",
                               message: "troupe.\(component).dead holds \(depth) message(s) (threshold \(t.deadLetters)): troupe dlq list \(component)"))
        }
        return try conditions(t, into: found, on: db)
    }

    /// The database's conditions, added to `found`.
    private func conditions(_ t: Thresholds, into found: AlertBook.Findings, on db: PostgresConnection) throws -> AlertBook.Findings {
        var found = found
        let ended = try db.query("""
            SELECT count(*) FILTER (WHERE status = 'Failed')::int AS failed, count(*)::int AS ended FROM orders
            WHERE status IN ('Completed', 'Failed') AND updated_at > now() - make_interval(secs => $1)
            """, [t.failureWindow.inSeconds]).rows[0]
        let failed: Int = try ended.decode("failed"), total: Int = try ended.decode("ended")
        if total >= t.minimumOrders, Double(failed) / Double(total) > t.failureRate {
            found.append(.init(key: "order-failure-rate", kind: "orders.failure-rate", message: """
                \(failed) of the \(total) orders that ended in the last \(Int(t.failureWindow.inSeconds / 60)) min failed \
                (\(Int((Double(failed) / Double(total) * 100).rounded())) %, threshold \(Int(t.failureRate * 100)) %)
                """))
        }
        let over = AlertBook.Findings.rowsToRead
        try found.each(try db.query("""
            SELECT id, updated_at FROM orders WHERE status = 'Processing' AND updated_at < now() - make_interval(secs => $1) ORDER BY id LIMIT $2
            """, [t.stuckAfter.inSeconds, over]).rows, prefix: "orders-stuck:", kind: "orders.stuck", more: "orders stuck") { row in
            let order = try row.decode("id", as: UUID.self).lowercasedString
            return (order, """
                Order \(order) has been Processing without moving since \(Timestamp.format(try row.decode("updated_at"))) \
                (over \(Int(t.stuckAfter.inSeconds / 60)) min)
                """)
        }
        try found.each(try db.query("""
            SELECT p.id, p.name, w.balance FROM wallets w JOIN partners p ON p.id = w.partner_id WHERE w.balance < $1 ORDER BY p.id LIMIT $2
            """, [t.walletBelow, over]).rows, prefix: "wallet-low:", kind: "wallets.low", more: "wallets below \(Money.format(t.walletBelow))") { row in
            (try row.decode("id", as: UUID.self).lowercasedString, """
                Partner \(try row.decode("name", as: String.self))'s wallet holds \(Money.format(try row.decode("balance"))), \
                below \(Money.format(t.walletBelow))
                """)
        }
        let open = try db.query("""
            SELECT node FROM troupe_breakers WHERE name = 'vendor' AND open AND reported_at > now() - interval '30 seconds' ORDER BY node
            """).rows.map { try $0.decode("node", as: String.self) }
        for node in open {
            found.append(.init(key: "vendor-breaker-open:\(node)", kind: "vendor.breaker-open",
                               message: "The vendor's circuit breaker is open on node \(node): its orders wait or fail"))
        }
        if let failures: Int = try db.query("SELECT failures FROM schedule_runs WHERE job = $1 AND failures >= 2",
                                            [CatalogSync.jobName]).rows.first?.decode("failures") {
            found.append(.init(key: "catalog-sync-failing", kind: "catalog.sync-failing",
                               message: "The catalog sync failed \(failures) times in a row (troupe jobs shows the last outcome)"))
        }
        return found
    }
}
