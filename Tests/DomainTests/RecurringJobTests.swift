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
}
