import ActorRuntime
@testable import Bridges
@testable import Domain
import Foundation
import Testing

/// Issue 19 §3: the operations jobs against the project's PostgreSQL (a private schema).
@Suite struct OperationsJobTests {
    static func alerts(_ db: DomainDatabase) async throws -> [String] {
        try await db.pool.withConnection { c in
            try c.query("SELECT envelope FROM troupe_outbox WHERE topic = 'alert.raised' ORDER BY seq").rows.map { try $0.decode("envelope") }
        }
    }

    @Test func theConsistencyJobFindsAPlantedLedgerMismatchAndAlertsOnce() async throws {
        let db = try await DomainDatabase()
        let job = WalletConsistency.job(alerts: AlertBook())
        let order = try await db.order(step: "completed", idleSeconds: 0)
        try await db.recordDebit(of: order)
        try await db.pool.withConnection { c in
            try c.query("UPDATE orders SET status = 'Completed' WHERE id = $1", [order])
            try c.query("UPDATE wallets SET balance = balance - 25 FROM orders o WHERE o.id = $1 AND wallets.partner_id = o.partner_id", [order])
        }
        #expect(try await db.pool.transaction { c in try job.work(c) } == 0, "consistent: the debit is in the ledger and the balance")
        // Planted: a balance that moved without its ledger, and a completed order refunded too.
        try await db.pool.withConnection { c in
            try c.query("UPDATE wallets SET balance = balance + 5 FROM orders o WHERE o.id = $1 AND wallets.partner_id = o.partner_id", [order])
            try c.query("""
                INSERT INTO wallet_entries (partner_id, kind, amount, idempotency_key, order_id) SELECT partner_id, 'refund', 25, $2, id FROM orders WHERE id = $1
                """, [order, Payment.refundKey(order)])
        }
        #expect(try await db.pool.transaction { c in try job.work(c) } == 2)
        let raised = try await Self.alerts(db)
        #expect(raised.count == 2, "\(raised)")
        #expect(raised.contains { $0.contains("wallet.balance-mismatch") && $0.contains("balance is 80.00, its ledger sums to 100.00") }, "\(raised)")
        #expect(raised.contains { $0.contains("wallet.order-mismatch") && $0.contains(order.lowercasedString) && $0.contains("1 refunds") })
        let balance: Decimal = try await db.pool.withConnection { c in
            try c.query("SELECT w.balance FROM wallets w JOIN orders o ON o.partner_id = w.partner_id WHERE o.id = $1", [order]).rows[0].decode("balance")
        }
        #expect(balance == 80, "nothing fixed silently")
        // The next hour: the same mismatches, no second alert.
        #expect(try await db.pool.transaction { c in try job.work(c) } == 2)
        #expect(try await Self.alerts(db).count == 2)
        // Another wallet goes wrong while the first still is: it alerts.
        let other = try await PartnerRegistry(pool: db.pool, keySecret: "domain-test-secret-123").add(name: "other-\(UUID())", wallet: 10, pricePercent: 100)
        try await db.pool.withConnection { c in try c.query("UPDATE wallets SET balance = 11 WHERE partner_id = $1", [other.id]) }
        #expect(try await db.pool.transaction { c in try job.work(c) } == 3)
        let third = try await Self.alerts(db)
        #expect(third.count == 3 && third[2].contains(other.name), "\(third)")
        await db.drop()
    }

    @Test func anAlertConditionRaisesOneAlertNotOnePerRunAndAgainAfterAQuietPeriod() async throws {
        let db = try await DomainDatabase()
        let admin = AdminAlerts(thresholds: .init(), book: AlertBook(quietPeriod: .seconds(3600)))
        func run() async throws -> [String] {
            try await db.pool.transaction { c in
                try admin.book.record(try admin.conditions(deadLetters: ["payment": 3, "inventory": 0], on: c), scope: AdminAlerts.jobName,
                                      producer: .notification, on: c).map { $0.key.hasPrefix("orders-stuck:") ? "orders-stuck" : $0.key }
            }
        }
        let stuck = try await db.order(step: "reserving", idleSeconds: 7200)
        #expect(try await run().sorted() == ["dead-letters:payment", "orders-stuck"])
        #expect(try await run() == [], "the same conditions ten minutes later: no alert")
        #expect(try await run() == [])
        let raised = try await Self.alerts(db)
        #expect(raised.count == 2 && raised.contains { $0.contains("has been Processing without moving") }, "\(raised)")
        // The order moves on: the condition is gone; it comes back soon after (flapping): still no alert.
        func setStuck(_ on: Bool) async throws {
            try await db.pool.withConnection { c in
                try c.query("UPDATE orders SET status = $2 WHERE id = $1", [stuck, on ? "Processing" : "Completed"])
            }
        }
        try await setStuck(false)
        #expect(try await run() == [])
        try await setStuck(true)
        #expect(try await run() == [], "back within the quiet period")
        // Gone for longer than the quiet period (the clock moved back by the test), then back: one alert.
        try await setStuck(false)
        _ = try await run()
        try await db.pool.withConnection { c in
            try c.query("UPDATE alert_states SET cleared_at = cleared_at - interval '2 hours' WHERE condition LIKE 'orders-stuck:%'")
        }
        try await setStuck(true)
        #expect(try await run() == ["orders-stuck"])
        #expect(try await Self.alerts(db).count == 3)
        // The broker could not be read: its queues' conditions are not taken for gone.
        try await db.pool.transaction { c in
            _ = try admin.book.record(try admin.conditions(deadLetters: nil, on: c), scope: AdminAlerts.jobName, producer: .notification, on: c)
        }
        let cleared: Bool = try await db.pool.withConnection { c in
            try c.query("SELECT cleared_at IS NOT NULL AS v FROM alert_states WHERE condition = 'dead-letters:payment'").rows[0].decode("v")
        }
        #expect(!cleared)
        await db.drop()
    }

    /// A broker that never answers the depth read (a blocked librabbitmq call cannot be cancelled) does not
    /// hold the job: after the read's time limit it runs without the dead-letter check.
    @Test(.timeLimit(.minutes(1))) func aDepthReadThatNeverAnswersDoesNotHoldTheJob() async throws {
        let db = try await DomainDatabase()
        let job = AdminAlerts(thresholds: .init(), book: AlertBook()).job(readTimeout: .milliseconds(200)) {
            // Never resumed, and deaf to cancellation, like a thread blocked in a socket read.
            await withCheckedContinuation { (_: CheckedContinuation<[String: Int?]?, Never>) in }
        }
        do {
            _ = try await job.tick(db.pool, node: "a")
        } catch {}
        let outcome: String? = try await db.pool.withConnection { c in
            try c.query("SELECT outcome FROM schedule_runs WHERE job = $1", [AdminAlerts.jobName]).rows.first?.decode("outcome")
        }
        #expect(outcome?.contains("not read") == true, "\(outcome ?? "no run recorded")")
        await db.drop()
    }

    /// A condition per stuck order: a second one alerts while the first still holds, and one moving on
    /// alerts nothing (a key made of the whole set alerted again at every change of it).
    @Test func aSecondStuckOrderAlertsAndOneMovingOnDoesNot() async throws {
        let db = try await DomainDatabase()
        let admin = AdminAlerts(thresholds: .init(), book: AlertBook())
        func run() async throws -> [String] {
            try await db.pool.transaction { c in
                try admin.book.record(try admin.conditions(deadLetters: [:], on: c), scope: AdminAlerts.jobName, producer: .notification, on: c)
                    .filter { $0.kind == "orders.stuck" }.map(\.key)
            }
        }
        let first = try await db.order(step: "reserving", idleSeconds: 7200)
        #expect(try await run() == ["orders-stuck:\(first.lowercasedString)"])
        let second = try await db.order(step: "debiting", idleSeconds: 7200)
        #expect(try await run() == ["orders-stuck:\(second.lowercasedString)"], "the second stuck order alerts")
        try await db.pool.withConnection { c in try c.query("UPDATE orders SET status = 'Completed' WHERE id = $1", [first]) }
        #expect(try await run() == [], "one moving on alerts nothing")
        await db.drop()
    }
}
