import ActorRuntime
import Bridges
@testable import Domain
import Foundation
import Testing

/// Payment's debit and Inventory's reserve, each one statement, against the project's PostgreSQL (a private
/// schema): a step sent again under a new envelope id (the backfill re-drives, an operator replays) must
/// answer as the first time and change nothing more.
@Suite struct SagaStepTests {
    func step(_ topic: String, order: UUID, _ fields: [String: JSONValue]) -> Envelope {
        Envelope(topic: topic, producerId: "order-queue", correlationId: "req-step",
                 payload: .object(fields.merging(["orderId": .string(order.lowercasedString)]) { a, _ in a }))
    }

    func replies(_ db: DomainDatabase, _ run: @escaping @Sendable (PostgresConnection, (Envelope) throws -> Void) throws -> Void) async throws -> [Envelope] {
        try await db.pool.transaction { c in
            var out: [Envelope] = []
            try run(c) { out.append($0) }
            return out
        }
    }

    @Test func aDebitSentAgainAnswersAsTheFirstTimeAndDebitsOnce() async throws {
        let db = try await DomainDatabase()
        let partner = try await PartnerRegistry(pool: db.pool, keySecret: "step-test-secret-12345").add(name: "p-\(UUID())", wallet: 100, pricePercent: 100)
        let order = UUID.v7(), poor = UUID.v7()
        let debit = { @Sendable (o: UUID, amount: Double) in
            self.step(SagaTopic.debit, order: o, ["partnerId": .string(partner.id.lowercasedString), "amount": .number(amount)])
        }
        for _ in 0..<2 {
            let answer = try await replies(db) { c, emit in try Payment.debit(debit(order, 60), c, emit: emit) }
            #expect(answer.map(\.topic) == [SagaTopic.debited])
            #expect(answer.first?.payload["amount"] == .number(60))
        }
        let refused = try await replies(db) { c, emit in try Payment.debit(debit(poor, 60), c, emit: emit) }
        #expect(refused.map(\.topic) == [SagaTopic.debitFailed], "40 left")
        #expect(refused.first?.payload["reason"] == .string("insufficient funds"))
        let (balance, entries) = try await db.pool.withConnection { c in
            (try c.query("SELECT balance FROM wallets WHERE partner_id = $1", [partner.id]).rows[0].decode("balance", as: Decimal.self),
             try c.query("SELECT count(*) AS n FROM wallet_entries WHERE partner_id = $1 AND kind = 'debit'", [partner.id]).rows[0].decode("n", as: Int.self))
        }
        #expect(balance == 40)
        #expect(entries == 1)
        await db.drop()
    }

    @Test func aReservationSentAgainAnswersWithTheSameReservationAndTakesStockOnce() async throws {
        let db = try await DomainDatabase()
        let first = try await db.order(step: "reserving", idleSeconds: 0, stock: 3)
        let product = try await db.pool.withConnection { c in
            try c.query("SELECT product_id FROM orders WHERE id = $1", [first]).rows[0].decode("product_id", as: Int64.self)
        }
        let reserve = { @Sendable (o: UUID, quantity: Int) in
            self.step(SagaTopic.reserve, order: o, ["productId": .number(Double(product)), "quantity": .number(Double(quantity))])
        }
        let a = try await replies(db) { c, emit in try Inventory.reserve(reserve(first, 2), c, emit: emit) }
        let b = try await replies(db) { c, emit in try Inventory.reserve(reserve(first, 2), c, emit: emit) }
        #expect(a.map(\.topic) == [SagaTopic.reserved] && b.map(\.topic) == [SagaTopic.reserved])
        #expect(a.first?.payload["reservationId"] != nil && a.first?.payload["reservationId"] == b.first?.payload["reservationId"])
        let short = try await replies(db) { c, emit in try Inventory.reserve(reserve(UUID.v7(), 2), c, emit: emit) }
        #expect(short.map(\.topic) == [SagaTopic.reserveFailed], "1 left")
        #expect(short.first?.payload["reason"] == .string("out of stock"))
        let (available, reservations) = try await db.pool.withConnection { c in
            (try c.query("SELECT available FROM inventory_stock WHERE product_id = $1", [product]).rows[0].decode("available", as: Int.self),
             try c.query("SELECT count(*) AS n FROM inventory_reservations WHERE product_id = $1", [product]).rows[0].decode("n", as: Int.self))
        }
        #expect(available == 1)
        #expect(reservations == 1)
        await db.drop()
    }

    /// Inventory reserves one unit for `order`, of its product.
    func reserveOne(_ db: DomainDatabase, _ order: UUID) async throws {
        let product = try await db.pool.withConnection { c in
            try c.query("SELECT product_id FROM orders WHERE id = $1", [order]).rows[0].decode("product_id", as: Int64.self)
        }
        let reserve = step(SagaTopic.reserve, order: order, ["productId": .number(Double(product)), "quantity": .number(1)])
        _ = try await replies(db) { c, emit in try Inventory.reserve(reserve, c, emit: emit) }
    }

    @Test func aConfirmationSentAgainAnswersAsTheFirstTimeAndSellsOnceAndAReleasedOneIsRefused() async throws {
        let db = try await DomainDatabase()
        let sold = try await db.order(step: "reserving", idleSeconds: 0, stock: 3), released = try await db.order(step: "reserving", idleSeconds: 0, stock: 3)
        for order in [sold, released] { try await reserveOne(db, order) }
        _ = try await replies(db) { c, emit in try Inventory.release(self.step(SagaTopic.release, order: released, [:]), c, emit: emit) }
        for _ in 0..<2 {
            let answer = try await replies(db) { c, emit in try Inventory.confirm(self.step(SagaTopic.confirm, order: sold, [:]), c, emit: emit) }
            #expect(answer.map(\.topic) == [SagaTopic.confirmed])
        }
        await #expect(throws: SagaViolation.self) {
            _ = try await replies(db) { c, emit in try Inventory.confirm(self.step(SagaTopic.confirm, order: released, [:]), c, emit: emit) }
        }
        let movements = try await db.pool.withConnection { c in
            try c.query("""
                SELECT r.order_id, r.status, m.quantity FROM inventory_movements m JOIN inventory_reservations r ON r.id = m.reservation_id
                WHERE r.order_id = ANY($1::uuid[])
                """, [PostgresArray([sold, released])]).rows.map { (try $0.decode("order_id", as: UUID.self), try $0.decode("status", as: String.self), try $0.decode("quantity", as: Int.self)) }
        }
        #expect(movements.count == 1)
        #expect(movements.first?.0 == sold && movements.first?.1 == "confirmed" && movements.first?.2 == -1)
        await db.drop()
    }

    /// Issue 16 §4: a confirm after the reservation expired (its units went back to stock) is a sale all the
    /// same: the units are taken again and the sale recorded; without the stock, recorded as a shortage.
    @Test func aConfirmAfterTheReservationExpiredTakesTheUnitsAgainOrRecordsAShortage() async throws {
        let db = try await DomainDatabase()
        let late = try await db.order(step: "reserving", idleSeconds: 0, stock: 3), short = try await db.order(step: "reserving", idleSeconds: 0, stock: 1)
        for order in [late, short] { try await reserveOne(db, order) }
        try await db.pool.withConnection { c in
            try c.query("UPDATE inventory_reservations SET expires_at = now() - interval '1 second' WHERE order_id = ANY($1::uuid[])", [PostgresArray([late, short])])
        }
        #expect(try await db.pool.transaction { c in try SagaJobs.expireReservations.work(c) } == 2, "neither order paid: both expire")
        // Someone else bought the unit `short` held.
        try await db.pool.withConnection { c in
            try c.query("UPDATE inventory_stock SET available = 0 WHERE product_id = (SELECT product_id FROM orders WHERE id = $1)", [short])
        }
        for order in [late, short] {
            let answer = try await replies(db) { c, emit in try Inventory.confirm(self.step(SagaTopic.confirm, order: order, [:]), c, emit: emit) }
            #expect(answer.map(\.topic) == [SagaTopic.confirmed])
        }
        let rows = try await db.pool.withConnection { c in
            try c.query("""
                SELECT r.order_id, r.status, m.quantity, m.reason, s.available FROM inventory_reservations r
                JOIN inventory_movements m ON m.reservation_id = r.id JOIN inventory_stock s ON s.product_id = r.product_id
                WHERE r.order_id = ANY($1::uuid[])
                """, [PostgresArray([late, short])]).rows.reduce(into: [UUID: String]()) { out, row in
                out[try row.decode("order_id")] = "\(try row.decode("status", as: String.self)) \(try row.decode("quantity", as: Int.self)) "
                    + "\(try row.decode("reason", as: String.self)) \(try row.decode("available", as: Int.self))"
            }
        }
        #expect(rows[late] == "confirmed -1 sold 2", "taken again from the 3")
        #expect(rows[short] == "confirmed -1 sold-short 0", "no stock left: a shortage on record, stock unchanged")
        await db.drop()
    }

    /// Issue 16 §3 (review): a `payment.debit-failed` that arrives when the ledger holds the order's debit (a
    /// re-sent debit succeeded after the first was refused) is stale: it must not fail an order whose
    /// `payment.debited` is placing it at the vendor.
    @Test func aStaleDebitFailedDoesNotFailAnOrderThatWasDebited() async throws {
        let db = try await DomainDatabase()
        let order = try await db.order(step: "debiting", idleSeconds: 0)
        try await db.recordDebit(of: order)
        let refused = step(SagaTopic.debitFailed, order: order, ["reason": .string("insufficient funds")])
        let emitted = try await replies(db) { c, emit in try OrderSaga.debitFailed(refused, c, emit: emit) }
        #expect(emitted.isEmpty)
        let stepNow = try await db.pool.withConnection { c in
            try c.query("SELECT step FROM orders WHERE id = $1", [order]).rows[0].decode("step", as: String.self)
        }
        #expect(stepNow == "debiting", "left for the debit that succeeded")
        await db.drop()
    }
}
