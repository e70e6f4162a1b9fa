import ActorRuntime
@testable import Bridges
@testable import Domain
import Foundation
import Testing

/// Issue 19 §2: provider events against the ledger (a private schema): the races a review found.
@Suite struct TopUpLedgerTests {
    @Test func aSuccessThatArrivesBeforeItsIntentIsRecordedIsCreditedWhenItIsAndAWrongAmountCreditsNothing() async throws {
        let db = try await DomainDatabase()
        let partner = try await PartnerRegistry(pool: db.pool, keySecret: "domain-test-secret-123").add(name: "p-\(UUID())", wallet: 0, pricePercent: 100)
        func balance() async throws -> Decimal {
            try await db.pool.withConnection { c in try c.query("SELECT balance FROM wallets WHERE partner_id = $1", [partner.id]).rows[0].decode("balance") }
        }
        // The provider's webhook won the race with the create-intent request that records the intent.
        let early = TopUps.Event(id: "evt_early", type: TopUps.succeeded, intentId: "pi_early", amount: 50, currency: "USD")
        #expect(try await db.pool.transaction { c in try TopUps.apply(early, on: c) } == .unknownIntent)
        #expect(try await balance() == 0)
        let replayed = try await db.pool.transaction { c in try TopUps.recordIntent(id: "pi_early", partner: partner.id, amount: 50, currency: "USD", on: c) }
        #expect(replayed == [.credited], "applied once the intent is known")
        #expect(try await balance() == 50)
        #expect(try await db.pool.transaction { c in try TopUps.apply(early, on: c) } == .duplicate)
        #expect(try await db.pool.transaction { c in try TopUps.recordIntent(id: "pi_early", partner: partner.id, amount: 50, currency: "USD", on: c) } == [],
                "recorded again: nothing applied twice")
        #expect(try await balance() == 50)
        // The same intent id for another amount (a key raced with another request): refused.
        await #expect(throws: TopUps.IntentConflict.self) {
            try await db.pool.transaction { c in try TopUps.recordIntent(id: "pi_early", partner: partner.id, amount: 500, currency: "USD", on: c) }
        }
        // A success that says another amount was received than the intent's: nothing credited, an alert.
        try await db.pool.transaction { c in try TopUps.recordIntent(id: "pi_small", partner: partner.id, amount: 40, currency: "USD", on: c) }
        let wrong = TopUps.Event(id: "evt_wrong", type: TopUps.succeeded, intentId: "pi_small", amount: 400, currency: "USD")
        #expect(try await db.pool.transaction { c in try TopUps.apply(wrong, on: c) } == .mismatch)
        #expect(try await balance() == 50)
        let alerts: [String] = try await db.pool.withConnection { c in
            try c.query("SELECT envelope FROM troupe_outbox WHERE topic = 'alert.raised'").rows.map { try $0.decode("envelope") }
        }
        #expect(alerts.count == 1 && alerts[0].contains("payment.amount-mismatch"), "\(alerts)")
        await db.drop()
    }

    /// A success emits `payment.succeeded` once however often it arrives; a failure emits `payment.failed`
    /// and credits nothing (the outbox of a private schema, which no relay empties).
    @Test func aSuccessEmitsPaymentSucceededOnceAndAFailureEmitsPaymentFailedAndCreditsNothing() async throws {
        let db = try await DomainDatabase()
        let partner = try await PartnerRegistry(pool: db.pool, keySecret: "domain-test-secret-123").add(name: "p-\(UUID())", wallet: 0, pricePercent: 100)
        try await db.pool.transaction { c in
            try TopUps.recordIntent(id: "pi_ok", partner: partner.id, amount: 25, currency: "USD", on: c)
            try TopUps.recordIntent(id: "pi_declined", partner: partner.id, amount: 30, currency: "USD", on: c)
        }
        let ok = TopUps.Event(id: "evt_ok", type: TopUps.succeeded, intentId: "pi_ok", amount: 25, currency: "USD")
        let declined = TopUps.Event(id: "evt_declined", type: TopUps.failed, intentId: "pi_declined", failureMessage: "Your card was declined.")
        // Three deliveries of the success and one of the failure in one batch, as concurrent webhooks are applied.
        let outcomes = try await db.pool.withConnection { c in try TopUps.apply(batch: [ok, declined, ok, ok], on: c).map { try $0.get() } }
        #expect(outcomes == [.credited, .failed, .duplicate, .duplicate])
        let events: [String] = try await db.pool.withConnection { c in
            try c.query("SELECT topic FROM troupe_outbox WHERE topic LIKE 'payment.%' ORDER BY topic").rows.map { try $0.decode("topic") }
        }
        #expect(events == ["payment.failed", "payment.succeeded"])
        let balance: Decimal = try await db.pool.withConnection { c in
            try c.query("SELECT balance FROM wallets WHERE partner_id = $1", [partner.id]).rows[0].decode("balance")
        }
        #expect(balance == 25, "the failed payment credited nothing")
        await db.drop()
    }

    /// One batch holding every case at once gives what applying its events one by one, in intent order, gives:
    /// a failure after a success settles, a success after a failure credits, two credits to one wallet each
    /// carry the balance after it, a repeat of an earlier batch's event is a duplicate, a wrong amount and an
    /// unknown intent credit nothing, an event type top-ups do not act on is only recorded.
    @Test func aMixedBatchHasTheOutcomesOfItsEventsAppliedOneByOne() async throws {
        let db = try await DomainDatabase()
        let registry = PartnerRegistry(pool: db.pool, keySecret: "domain-test-secret-123")
        let first = try await registry.add(name: "p-\(UUID())", wallet: 0, pricePercent: 100)
        let second = try await registry.add(name: "p-\(UUID())", wallet: 0, pricePercent: 100)
        try await db.pool.transaction { c in
            try TopUps.recordIntent(id: "pi_a", partner: first.id, amount: 10, currency: "USD", on: c)
            try TopUps.recordIntent(id: "pi_b", partner: first.id, amount: 20, currency: "USD", on: c)
            try TopUps.recordIntent(id: "pi_c", partner: first.id, amount: 5, currency: "USD", on: c)
            try TopUps.recordIntent(id: "pi_d", partner: second.id, amount: 7, currency: "USD", on: c)
            try TopUps.recordIntent(id: "pi_e", partner: second.id, amount: 9, currency: "USD", on: c)
            try TopUps.recordIntent(id: "pi_f", partner: second.id, amount: 4, currency: "USD", on: c)
        }
        let before = TopUps.Event(id: "evt_d1", type: TopUps.succeeded, intentId: "pi_d", amount: 7, currency: "USD")
        #expect(try await db.pool.withConnection { c in try TopUps.apply(batch: [before], on: c).map { try $0.get() } } == [.credited])
        let batch = [
            TopUps.Event(id: "evt_a2", type: TopUps.failed, intentId: "pi_a", failureMessage: "late decline"),   // after evt_a1: settled
            TopUps.Event(id: "evt_a1", type: TopUps.succeeded, intentId: "pi_a", amount: 10, currency: "USD"),
            TopUps.Event(id: "evt_b2", type: TopUps.succeeded, intentId: "pi_b", amount: 20, currency: "USD"),   // after evt_b1: credited
            TopUps.Event(id: "evt_b1", type: TopUps.failed, intentId: "pi_b", failureMessage: "first try declined"),
            TopUps.Event(id: "evt_c1", type: TopUps.succeeded, intentId: "pi_c", amount: 6, currency: "USD"),    // wrong amount
            TopUps.Event(id: "evt_d1", type: TopUps.succeeded, intentId: "pi_d", amount: 7, currency: "USD"),    // an earlier batch's
            TopUps.Event(id: "evt_d2", type: TopUps.succeeded, intentId: "pi_d", amount: 7, currency: "USD"),    // credited before
            TopUps.Event(id: "evt_e1", type: TopUps.succeeded, intentId: "pi_e", amount: 9, currency: "USD"),
            TopUps.Event(id: "evt_x1", type: TopUps.succeeded, intentId: "pi_unknown", amount: 1, currency: "USD"),
            TopUps.Event(id: "evt_y1", type: "payment_intent.created", intentId: "pi_e"),
            TopUps.Event(id: "evt_e1", type: TopUps.succeeded, intentId: "pi_e", amount: 9, currency: "USD"),    // repeated in the batch
            TopUps.Event(id: "evt_f2", type: TopUps.failed, intentId: "pi_f", failureMessage: "second decline"),  // after evt_f1: settled
            TopUps.Event(id: "evt_f1", type: TopUps.failed, intentId: "pi_f", failureMessage: "first decline"),
            TopUps.Event(id: "evt_n1", type: TopUps.succeeded, intentId: nil, amount: 1, currency: "USD"),         // names no intent
        ]
        let outcomes = try await db.pool.withConnection { c in try TopUps.apply(batch: batch, on: c).map { try $0.get() } }
        #expect(outcomes == [.settled, .credited, .credited, .failed, .mismatch, .duplicate, .settled, .credited, .unknownIntent, .ignored, .duplicate,
                             .settled, .failed, .unknownIntent])
        let rows = try await db.pool.withConnection { c in
            try c.query("SELECT id, status, coalesce(failure_reason, '') AS reason FROM payment_intents ORDER BY id").rows.map {
                "\(try $0.decode("id", as: String.self)) \(try $0.decode("status", as: String.self)) \(try $0.decode("reason", as: String.self))"
            }
        }
        #expect(rows == ["pi_a succeeded ", "pi_b succeeded ", "pi_c requires_payment ", "pi_d succeeded ", "pi_e succeeded ", "pi_f failed first decline"])
        let recorded = try await db.pool.withConnection { c in
            try c.query("SELECT id, outcome FROM payment_events ORDER BY id").rows.map { "\(try $0.decode("id", as: String.self))=\(try $0.decode("outcome", as: String.self))" }
        }
        #expect(recorded == ["evt_a1=credited", "evt_a2=settled", "evt_b1=failed", "evt_b2=credited", "evt_c1=mismatch", "evt_d1=credited",
                             "evt_d2=settled", "evt_e1=credited", "evt_f1=failed", "evt_f2=settled", "evt_n1=unknown-intent",
                             "evt_x1=unknown-intent", "evt_y1=ignored"])
        // Each payment event carries the balance after its own credit: the first wallet 10, then 30 (pi_a before pi_b).
        let emitted = try await db.pool.withConnection { c in
            try c.query("SELECT topic, envelope FROM troupe_outbox WHERE topic LIKE 'payment.%' ORDER BY seq").rows.map { row -> String in
                let json = try JSONValue(parsing: Array(try row.decode("envelope", as: String.self).utf8))
                guard case .string(let intent)? = json["payload"]?["intentId"] else { return "?" }
                var balance = ""
                if case .number(let n)? = json["payload"]?["balance"] { balance = " \(Int(n))" }
                return "\(try row.decode("topic", as: String.self)) \(intent)\(balance)"
            }
        }
        #expect(emitted == ["payment.succeeded pi_d 7", "payment.succeeded pi_a 10", "payment.failed pi_b", "payment.succeeded pi_b 30",
                            "payment.succeeded pi_e 16", "payment.failed pi_f"])
        let balances = try await db.pool.withConnection { c in
            try [first.id, second.id].map { try c.query("SELECT balance FROM wallets WHERE partner_id = $1", [$0]).rows[0].decode("balance", as: Decimal.self) }
        }
        #expect(balances == [30, 16])
        #expect(try await db.pool.withConnection { c in try c.query("SELECT count(*)::int AS n FROM wallet_entries").rows[0].decode("n", as: Int.self) } == 4,
                "one entry per credited intent")
        await db.drop()
    }

    /// Provider ids are printable ASCII (evt_..., pi_...). Others are refused: Swift's strings compare canonically
    /// equivalent text as equal where PostgreSQL compares bytes, so "evt_\u{e9}" and "evt_e\u{301}" in one batch
    /// would be taken for one event there and two here.
    @Test func anEventWhoseIdsAreNotPrintableASCIIIsNotRead() throws {
        func event(id: String, intent: String) throws -> TopUps.Event? {
            TopUps.Event(json: try JSONValue(parsing: Array(#"{"id": "\#(id)", "type": "payment_intent.succeeded", "data": {"object": {"id": "\#(intent)", "amount": 100}}}"#.utf8)))
        }
        #expect(try event(id: "evt_1Nx", intent: "pi_3Mt")?.intentId == "pi_3Mt")
        #expect(try event(id: "evt_\u{e9}", intent: "pi_3Mt") == nil)
        #expect(try event(id: "evt_e\u{301}", intent: "pi_3Mt") == nil)
        #expect(try event(id: "evt_1Nx", intent: "pi_\u{e9}") == nil)
        #expect(try event(id: "evt 1", intent: "pi_3Mt") == nil)
    }
}
