import ActorRuntime
@testable import Bridges
@testable import Domain
import Foundation
import Synchronization
import Testing

/// The vendor order is placed on `payment.debited` itself: the prepare step reads the order and checks
/// out; the handler records the answer. Against the project's PostgreSQL (a private schema).
@Suite struct VendorPlacementTests {
    /// The vendor as the simulator at zero latency behaves: every order done at once.
    final class InstantVendor: VendorAdapter {
        let placed = Mutex(0)
        var checkouts: Int { placed.withLock { $0 } }
        func placeOrder(requestId: String, productId: String, quantity: Int, faceValue: Decimal) async throws -> String {
            placed.withLock { $0 += 1 }
            return "v-\(requestId)"
        }
        func order(requestId: String) async throws -> VendorOrderState { .succeeded(cards: .array([.object(["CardCode": .string("c-1")])])) }
    }

    /// A vendor whose first checkout times out (it may have placed the order) and whose repeat is refused (a
    /// 4xx about the repeat): the refusal is not believed, the order is looked up and found.
    final class RefusesTheRepeat: VendorAdapter {
        let calls = Mutex(0)
        func placeOrder(requestId: String, productId: String, quantity: Int, faceValue: Decimal) async throws -> String {
            let n = calls.withLock { $0 += 1; return $0 }
            throw n == 1 ? VendorError("timed out") : VendorError("duplicate RequestId", status: 409)
        }
        func order(requestId: String) async throws -> VendorOrderState { .processing }
    }

    @Test func aRefusalAfterACheckoutThatMayHaveGoneThroughIsCheckedByALookup() async throws {
        let vendor = RefusesTheRepeat()
        let steps = VendorSteps(adapter: vendor, breaker: CircuitBreaker(name: "repeat-test"), orders: nil)
        let result = try await steps.place(UUID.v7(), product: "1001", quantity: 1, faceValue: 25, attempt: 1)
        #expect(result["placed"] == .bool(true), "\(result)")
        #expect(result["polled"]?["state"] == .string("processing"))
        #expect(vendor.calls.withLock { $0 } == 2, "the repeat was refused, and that refusal was not believed")
    }

    @Test func aDebitedOrderGoesStraightToConfirmingAndAReplayedReplyPlacesNothing() async throws {
        let db = try await DomainDatabase()
        let id = try await db.order(step: "debiting", idleSeconds: 0)
        let vendor = InstantVendor()
        let steps = VendorSteps(adapter: vendor, breaker: CircuitBreaker(name: "placement-test"), orders: db.pool)
        for _ in 0..<2 {                                   // the second: Payment's reply to a debit sent again
            let debited = Envelope(topic: SagaTopic.debited, producerId: "payment", correlationId: "req-place",
                                   payload: .object(["orderId": .string(id.lowercasedString), "amount": .number(25)]))
            let prepared = try await steps.prepare(debited, 1)
            try await db.pool.transaction { c in
                let context = DeliveryContext(db: c)
                context.prepared = prepared
                try VendorSteps.placed(debited, context, from: .debiting)
            }
        }
        let (step, vendorOrder, cards, emitted) = try await db.pool.withConnection { c in
            let row = try c.query("SELECT step, vendor_order_id, cards FROM orders WHERE id = $1", [id]).rows[0]
            return (try row.decode("step", as: String.self), try row.decode("vendor_order_id", as: String?.self),
                    try row.decode("cards", as: JSONValue?.self),
                    try c.query("SELECT topic FROM troupe_outbox WHERE topic <> 'partner.created' ORDER BY seq").rows.map { try $0.decode("topic", as: String.self) })
        }
        #expect(vendor.checkouts == 1)
        #expect(step == "confirming")
        #expect(vendorOrder == "v-\(id.lowercasedString)")
        #expect(try cards.map { try CardVault.development.open($0, order: id) } == .array([.object(["CardCode": .string("c-1")])]))
        #expect(cards?["sealed"] != nil, "stored sealed")
        #expect(emitted == [SagaTopic.confirm])
        await db.drop()
    }

    /// Issue 16 §2: polling never refunds blind. Out of rounds the order stays `polling` for reconciliation;
    /// a vendor that says it has no such order compensates only an order whose placement was never
    /// confirmed (no vendor order id); one it confirmed before is polled again.
    @Test func pollingOutOfRoundsLeavesTheOrderAndOnlyAnUnconfirmedMissingOrderIsCompensated() async throws {
        let db = try await DomainDatabase()
        func poll(_ id: UUID, state: String, attempt: Int, round: Int, grace: Duration = .seconds(120)) async throws {
            let envelope = Envelope(topic: SagaTopic.pollVendorOrder, producerId: "order-queue", correlationId: "req-poll",
                                    payload: .object(["orderId": .string(id.lowercasedString), "round": .number(Double(round))]))
            try await db.pool.transaction { c in
                let context = DeliveryContext(db: c, maxAttempts: 3)
                context.attempt = attempt
                context.prepared = .object(["state": .string(state)])
                try VendorSteps.polled(envelope, context, rounds: 20, notFoundGrace: grace)
            }
        }
        func row(_ id: UUID) async throws -> (step: String, emitted: [String]) {
            try await db.pool.withConnection { c in
                (try c.query("SELECT step FROM orders WHERE id = $1", [id]).rows[0].decode("step", as: String.self),
                 try c.query("SELECT topic FROM troupe_outbox WHERE envelope LIKE $1 ORDER BY seq", ["%\(id.lowercasedString)%"]).rows
                    .map { try $0.decode("topic", as: String.self) })
            }
        }
        let slow = try await db.order(step: "polling", idleSeconds: 0)
        try await db.pool.withConnection { try $0.query("UPDATE orders SET vendor_order_id = 'v-1' WHERE id = $1", [slow]) }
        try await poll(slow, state: "processing", attempt: 3, round: 20)
        #expect(try await row(slow) == ("polling", []), "out of rounds: no refund, no release, left for reconciliation")

        let unconfirmed = try await db.order(step: "polling", idleSeconds: 0)          // checkout without a sure answer
        try await db.pool.withConnection { try $0.query("UPDATE orders SET checkout_at = now() WHERE id = $1", [unconfirmed]) }
        await #expect(throws: TransientError.self, "within the grace: a checkout may still be in flight at the vendor") {
            try await poll(unconfirmed, state: "missing", attempt: 1, round: 1)
        }
        #expect(try await row(unconfirmed) == ("polling", []))
        try await poll(unconfirmed, state: "missing", attempt: 2, round: 1, grace: .zero)
        #expect(try await row(unconfirmed) == ("compensating", [SagaTopic.release, SagaTopic.refund]))

        let confirmed = try await db.order(step: "polling", idleSeconds: 0)
        try await db.pool.withConnection { try $0.query("UPDATE orders SET vendor_order_id = 'v-2' WHERE id = $1", [confirmed]) }
        await #expect(throws: TransientError.self) { try await poll(confirmed, state: "missing", attempt: 1, round: 1) }
        #expect(try await row(confirmed) == ("polling", []))
        await db.drop()
    }
}
