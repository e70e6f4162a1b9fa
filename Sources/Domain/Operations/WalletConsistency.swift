import ActorRuntime
import Bridges
import Foundation

/// Hourly, once per cluster: every wallet's balance equals the sum of its ledger; every completed order has
/// exactly one debit and no refund; every failed order that was debited was refunded. A mismatch raises
/// `alert.raised` with the details (through ``AlertBook``: once, not every hour). Money is never "fixed"
/// here: an operator looks.
public enum WalletConsistency {
    public static let jobName = "wallet-consistency"

    public static func job(every: Duration = .seconds(3600), alerts: AlertBook) -> RecurringJob {
        RecurringJob(name: jobName, period: every) { db in
            let found = try check(on: db)
            try alerts.record(found, scope: jobName, producer: .payment, on: db)
            return found.conditions.count
        }
    }

    /// The mismatches now: a condition per offender (a wallet, an order), so that a second mismatch alerts
    /// while the first still holds (at most ``AlertBook/Findings/limit`` of each kind a run, then one for the rest).
    public static func check(on db: PostgresConnection) throws -> AlertBook.Findings {
        var found = AlertBook.Findings()
        let over = AlertBook.Findings.rowsToRead
        try found.each(try db.query("""
            SELECT p.id, p.name, w.balance, COALESCE(l.total, 0) AS ledger
            FROM wallets w JOIN partners p ON p.id = w.partner_id
            LEFT JOIN (SELECT partner_id, sum(amount) AS total FROM wallet_entries GROUP BY partner_id) l ON l.partner_id = w.partner_id
            WHERE w.balance <> COALESCE(l.total, 0)
            ORDER BY p.id LIMIT $1
            """, [over]).rows, prefix: "\(jobName):balance:", kind: "wallet.balance-mismatch", more: "wallets whose balance is not their ledger's sum") { row in
            (try row.decode("id", as: UUID.self).lowercasedString, """
                Partner \(try row.decode("name", as: String.self))'s wallet balance is \(Money.format(try row.decode("balance"))), \
                its ledger sums to \(Money.format(try row.decode("ledger")))
                """)
        }
        try found.each(try db.query("""
            SELECT o.id, count(*) FILTER (WHERE e.kind = 'debit')::int AS debits, count(*) FILTER (WHERE e.kind = 'refund')::int AS refunds
            FROM orders o LEFT JOIN wallet_entries e ON e.order_id = o.id
            WHERE o.status = 'Completed'
            GROUP BY o.id
            HAVING count(*) FILTER (WHERE e.kind = 'debit') <> 1 OR count(*) FILTER (WHERE e.kind = 'refund') > 0
            ORDER BY o.id LIMIT $1
            """, [over]).rows, prefix: "\(jobName):completed:", kind: "wallet.order-mismatch", more: "completed orders without exactly one debit and no refund") { row in
            let order = try row.decode("id", as: UUID.self).lowercasedString
            return (order, """
                Completed order \(order) has \(try row.decode("debits", as: Int.self)) debits and \(try row.decode("refunds", as: Int.self)) refunds \
                (one debit and no refund expected)
                """)
        }
        // A refund on its way (the order failed a moment ago) is not missing yet: debits older than 10 minutes.
        try found.each(try db.query("""
            SELECT o.id FROM orders o
            WHERE o.status = 'Failed' AND o.updated_at < now() - interval '10 minutes'
              AND EXISTS (SELECT 1 FROM wallet_entries e WHERE e.order_id = o.id AND e.kind = 'debit' AND e.created_at < now() - interval '10 minutes')
              AND NOT EXISTS (SELECT 1 FROM wallet_entries e WHERE e.order_id = o.id AND e.kind = 'refund')
            ORDER BY o.id LIMIT $1
            """, [over]).rows, prefix: "\(jobName):failed:", kind: "wallet.refund-missing", more: "failed orders debited and not refunded") { row in
            let order = try row.decode("id", as: UUID.self).lowercasedString
            return (order, "Failed order \(order) was debited and not refunded")
        }
        return found
    }
}
