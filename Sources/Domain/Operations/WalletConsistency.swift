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
            return found.count
        }
    }

    /// The mismatches now, one condition per kind of check, naming up to 10 offenders.
    public static func check(on db: PostgresConnection) throws -> [AlertBook.Condition] {
        var found: [AlertBook.Condition] = []
        func list(_ rows: [PostgresRow], _ line: (PostgresRow) throws -> String) throws -> String {
            try rows.prefix(10).map(line).joined(separator: "; ") + (rows.count > 10 ? "; and \(rows.count - 10) more" : "")
        }
        let balances = try db.query("""
            SELECT p.name, w.balance, COALESCE(l.total, 0) AS ledger
            FROM wallets w JOIN partners p ON p.id = w.partner_id
            LEFT JOIN (SELECT partner_id, sum(amount) AS total FROM wallet_entries GROUP BY partner_id) l ON l.partner_id = w.partner_id
            WHERE w.balance <> COALESCE(l.total, 0)
            ORDER BY p.name LIMIT 101
            """).rows
        if !balances.isEmpty {
            found.append(.init(key: "\(jobName):balance", kind: "wallet.balance-mismatch", message: """
                \(balances.count > 100 ? "Over 100" : "\(balances.count)") wallet(s) whose balance is not the sum of their ledger: \
                \(try list(balances) { "\(try $0.decode("name", as: String.self)) balance \(Money.format(try $0.decode("balance"))) ledger \(Money.format(try $0.decode("ledger")))" })
                """))
        }
        let completed = try db.query("""
            SELECT o.id, o.reference_id, count(*) FILTER (WHERE e.kind = 'debit') AS debits, count(*) FILTER (WHERE e.kind = 'refund') AS refunds
            FROM orders o LEFT JOIN wallet_entries e ON e.order_id = o.id
            WHERE o.status = 'Completed'
            GROUP BY o.id, o.reference_id
            HAVING count(*) FILTER (WHERE e.kind = 'debit') <> 1 OR count(*) FILTER (WHERE e.kind = 'refund') > 0
            ORDER BY o.id LIMIT 101
            """).rows
        if !completed.isEmpty {
            found.append(.init(key: "\(jobName):completed-orders", kind: "wallet.order-mismatch", message: """
                \(completed.count > 100 ? "Over 100" : "\(completed.count)") completed order(s) without exactly one debit and no refund: \
                \(try list(completed) { "\(try $0.decode("id", as: UUID.self).lowercasedString) (\(try $0.decode("debits", as: Int.self)) debits, \(try $0.decode("refunds", as: Int.self)) refunds)" })
                """))
        }
        let failed = try db.query("""
            SELECT o.id FROM orders o
            WHERE o.status = 'Failed'
              AND EXISTS (SELECT 1 FROM wallet_entries e WHERE e.order_id = o.id AND e.kind = 'debit')
              AND NOT EXISTS (SELECT 1 FROM wallet_entries e WHERE e.order_id = o.id AND e.kind = 'refund')
            ORDER BY o.id LIMIT 101
            """).rows
        if !failed.isEmpty {
            found.append(.init(key: "\(jobName):failed-orders", kind: "wallet.refund-missing", message: """
                \(failed.count > 100 ? "Over 100" : "\(failed.count)") failed order(s) debited and not refunded: \
                \(try list(failed) { try $0.decode("id", as: UUID.self).lowercasedString })
                """))
        }
        return found
    }
}
