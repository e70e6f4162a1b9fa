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
}
