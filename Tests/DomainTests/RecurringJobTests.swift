import ActorRuntime
import ActorRuntimeTesting
import Bridges
import Domain
import Foundation
import Synchronization
import Testing

/// Recurring jobs and the saga's jobs, against the project's PostgreSQL (a private schema).
@Suite struct RecurringJobTests {
    @Test func aJobRunsOncePerPeriodHoweverManyNodesTick() async throws {
        let db = try await DomainDatabase()
        let runs = Mutex(0)
        let job = RecurringJob(name: "test-\(UUID())", period: .seconds(60)) { _ in runs.withLock { $0 += 1 }; return 1 }
        // Eight "nodes" tick at once: one runs it.
        let results = await withTaskGroup(of: Int?.self) { group in
            for _ in 0..<8 { group.addTask { try? await job.tick(db.pool) } }
            return await group.reduce(into: [Int?]()) { $0.append($1) }
        }
        #expect(results.compactMap { $0 }.count == 1)
        #expect(try await job.tick(db.pool) == nil, "not due again within the period")
        #expect(runs.withLock { $0 } == 1)
        // A period later (the clock moved back by the test rather than waited for), it is due again, once.
        try await db.pool.withConnection { c in
            try c.query("UPDATE schedule_runs SET last_run_at = last_run_at - interval '60 seconds' WHERE job = $1", [job.name])
        }
        #expect(try await job.tick(db.pool) == 1)
        #expect(try await job.tick(db.pool) == nil)
        #expect(runs.withLock { $0 } == 2)
        await db.drop()
    }

    @Test func backfillRedrivesStuckOrdersOnly() async throws {
        let db = try await DomainDatabase()
        let stuck = try await db.order(step: "reserving", idleSeconds: 120)
        _ = try await db.order(step: "debiting", idleSeconds: 5)                          // moved recently
        _ = try await db.order(step: "reserving", idleSeconds: 90_000)                    // older than 24 h
        let n = try await db.pool.transaction { c in try SagaJobs.backfill.work(c) }
        #expect(n == 1)
        let envelopes = try await db.pool.withConnection { c in
            try c.query("SELECT envelope FROM troupe_outbox WHERE topic = 'order.created'").rows.map {
                try Envelope.decode(Array(try $0.decode("envelope", as: String.self).utf8))
            }
        }
        #expect(envelopes.map { $0.payload["orderId"] } == [.string(stuck.lowercasedString)])
        #expect(envelopes.first?.correlationId == "req-d", "the order's correlation id carries on")

        let byRange = try await db.pool.transaction { c in
            try SagaJobs.redrive(from: Date().addingTimeInterval(-100_000), to: Date(), on: c)
        }
        #expect(byRange == 3, "the admin re-drive takes the whole range at once")
        await db.drop()
    }

    @Test func expiredReservationsGiveTheirUnitsBack() async throws {
        let db = try await DomainDatabase()
        let order = try await db.order(step: "debiting", idleSeconds: 0, stock: 7)
        try await db.pool.transaction { c in
            try c.query("""
                INSERT INTO inventory_reservations (id, order_id, product_id, quantity, status, expires_at)
                SELECT $1, $2, product_id, 3, 'reserved', now() - interval '1 second' FROM orders WHERE id = $2
                """, [UUID.v7(), order])
        }
        #expect(try await db.pool.transaction { c in try SagaJobs.expireReservations.work(c) } == 1)
        #expect(try await db.pool.transaction { c in try SagaJobs.expireReservations.work(c) } == 0, "once")
        let (status, available) = try await db.pool.withConnection { c in
            let r = try c.query("""
                SELECT r.status, s.available FROM inventory_reservations r JOIN inventory_stock s ON s.product_id = r.product_id WHERE r.order_id = $1
                """, [order]).rows[0]
            return (try r.decode("status", as: String.self), try r.decode("available", as: Int.self))
        }
        #expect(status == "expired")
        #expect(available == 10)
        await db.drop()
    }

    /// Issue 16 §4: a reservation whose order has been debited or placed does not expire.
    @Test func aReservationWhoseOrderWasDebitedOrPlacedDoesNotExpire() async throws {
        let db = try await DomainDatabase()
        let unpaid = try await db.order(step: "debiting", idleSeconds: 0), debited = try await db.order(step: "debiting", idleSeconds: 0)
        let placed = try await db.order(step: "polling", idleSeconds: 0)
        try await db.pool.transaction { c in
            for order in [unpaid, debited, placed] {
                try c.query("""
                    INSERT INTO inventory_reservations (id, order_id, product_id, quantity, status, expires_at)
                    SELECT $1, $2, product_id, 1, 'reserved', now() - interval '1 second' FROM orders WHERE id = $2
                    """, [UUID.v7(), order])
            }
        }
        try await db.recordDebit(of: debited)
        #expect(try await db.pool.transaction { c in try SagaJobs.expireReservations.work(c) } == 1)
        let statuses = try await db.pool.withConnection { c in
            try c.query("SELECT order_id, status FROM inventory_reservations").rows.reduce(into: [UUID: String]()) {
                $0[try $1.decode("order_id")] = try $1.decode("status")
            }
        }
        #expect(statuses == [unpaid: "expired", debited: "reserved", placed: "reserved"])
        await db.drop()
    }

    /// Issue 16 §4: reconciliation re-sends the command of whatever step an order has waited in too long,
    /// the steps the backfill skips included; orders that moved recently, or are done, are left alone.
    @Test func reconciliationRedrivesEveryStepOfAnOrderThatHasNotMoved() async throws {
        let db = try await DomainDatabase()
        var expected: [UUID: [String]] = [:]
        for (step, topics) in [("created", [SagaTopic.orderCreated]), ("reserving", [SagaTopic.reserve]), ("debiting", [SagaTopic.debit]),
                               ("placing", [SagaTopic.placeVendorOrder]), ("polling", [SagaTopic.pollVendorOrder]),
                               ("confirming", [SagaTopic.confirm]), ("compensating", [SagaTopic.release, SagaTopic.refund])] {
            expected[try await db.order(step: step, idleSeconds: 600)] = topics
        }
        let compensating = expected.first { $0.value.count == 2 }!.key
        try await db.pool.withConnection { c in
            try c.query("UPDATE orders SET release_pending = true, refund_pending = true, vendor_order_id = 'v-1' WHERE id = $1", [compensating])
        }
        let recent = try await db.order(step: "polling", idleSeconds: 10)
        let done = try await db.order(step: "completed", idleSeconds: 600)
        try await db.pool.withConnection { c in try c.query("UPDATE orders SET status = 'Completed' WHERE id = $1", [done]) }

        #expect(try await db.pool.transaction { c in try SagaJobs.reconcile.work(c) } == expected.count)
        let sent = try await db.pool.withConnection { c in
            try c.query("SELECT envelope FROM troupe_outbox ORDER BY seq").rows.reduce(into: [UUID: [String]]()) { out, row in
                let e = try Envelope.decode(Array(try row.decode("envelope", as: String.self).utf8))
                guard case .string(let id)? = e.payload["orderId"], let order = UUID(text: id) else { return }
                out[order, default: []].append(e.topic)
            }
        }
        #expect(sent == expected)
        #expect(sent[recent] == nil && sent[done] == nil)
        // Re-driven orders wait a period before the next re-drive, so orders that never resolve cannot take the
        // whole batch at every run (the least recently reconciled go first).
        #expect(try await db.pool.transaction { c in try SagaJobs.reconcile.work(c) } == 0)
        await db.drop()
    }
}
