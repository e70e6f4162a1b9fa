import ActorRuntime
import Bridges
import Foundation

/// Wallet top-ups through the payment provider: the intents Troupe created for partners, and the
/// provider's events applied once each (deduplicated by the event's id in `payment_events`, committed with
/// their effects). A `payment_intent.succeeded` credits the intent's amount once (the ledger entry is keyed
/// by the intent) and emits `payment.succeeded`; a `payment_intent.payment_failed` records the failure and
/// emits `payment.failed`; an event for an intent Troupe does not know is recorded and answered, so the
/// provider stops retrying it, and applied if that intent is recorded later (its webhook won the race with
/// the create-intent request). A success whose amount or currency is not the intent's credits nothing and
/// raises an alert.
public enum TopUps {
    public static let succeeded = "payment_intent.succeeded"
    public static let failed = "payment_intent.payment_failed"

    /// Takes the intents' transaction-scoped advisory locks, in the order of their keys (two intents whose
    /// ids hash alike share one). An intent's webhook and the request
    /// recording it take the same lock, so an event that arrives while its intent is being recorded is not
    /// left `unknown-intent` (each would otherwise not see the other's uncommitted row).
    static func lockIntents(_ ids: [String], on db: PostgresConnection) throws {
        guard !ids.isEmpty else { return }
        try db.query("""
            SELECT pg_advisory_xact_lock(k) FROM (SELECT DISTINCT hashtext(current_schema() || '.troupe.topup.' || id) AS k
                                                  FROM unnest($1::text[]) AS id ORDER BY 1) keys
            """, [PostgresArray(ids)])
    }

    /// The provider answered with an intent Troupe recorded for another partner or amount (the same
    /// idempotency key raced with another request): it must not be paid into this request's wallet.
    public struct IntentConflict: Error, CustomStringConvertible {
        public let id: String
        public var description: String { "payment intent \(id) was recorded for another partner or amount" }
    }

    /// Records an intent the provider created for `partner` (again: nothing; for another partner or amount:
    /// ``IntentConflict``), then applies the events that arrived for it before it was recorded (answered as
    /// `unknown-intent` then). - Returns: what those events did.
    @discardableResult
    public static func recordIntent(id: String, partner: UUID, amount: Decimal, currency: String, on db: PostgresConnection) throws -> [Outcome] {
        // Serialised with the intent's webhooks: an event either sees this intent, or is seen below.
        try lockIntents([id], on: db)
        try db.query("""
            INSERT INTO payment_intents (id, partner_id, amount, currency) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING
            """, [id, partner, amount, currency])
        let row = try db.query("SELECT partner_id, amount, currency FROM payment_intents WHERE id = $1", [id]).rows[0]
        guard try row.decode("partner_id", as: UUID.self) == partner, try row.decode("amount", as: Decimal.self) == amount,
              try row.decode("currency", as: String.self) == currency else { throw IntentConflict(id: id) }
        let early = try db.query("""
            SELECT id, type, failure_message, amount, currency FROM payment_events WHERE intent_id = $1 AND outcome = 'unknown-intent'
            ORDER BY received_at, id FOR UPDATE
            """, [id]).rows
        return try early.map { row in
            let event = Event(id: try row.decode("id"), type: try row.decode("type"), intentId: id, failureMessage: try row.decode("failure_message"),
                              amount: try row.decode("amount"), currency: try row.decode("currency"))
            let outcome = try effect(of: event, on: db)
            try db.query("UPDATE payment_events SET outcome = $2 WHERE id = $1", [event.id, outcome.rawValue])
            return outcome
        }
    }

    /// A provider event, as the webhook reads it.
    public struct Event: Sendable, Equatable {
        public let id: String
        public let type: String
        public let intentId: String?
        /// The provider's reason for a failed payment.
        public let failureMessage: String?
        /// What the provider says was received (a success) or asked (a failure), and in which currency.
        public let amount: Decimal?
        public let currency: String?

        public init(id: String, type: String, intentId: String?, failureMessage: String? = nil, amount: Decimal? = nil, currency: String? = nil) {
            self.id = id
            self.type = type
            self.intentId = intentId
            self.failureMessage = failureMessage
            self.amount = amount
            self.currency = currency
        }

        /// Reads Stripe's event shape: `{"id", "type", "data": {"object": {"id", "amount", "amount_received", "currency",
        /// "last_payment_error": {"message"}}}}` (amounts in cents).
        public init?(json: JSONValue) {
            guard case .string(let id)? = json["id"], !id.isEmpty, id.utf8.count <= 255,
                  case .string(let type)? = json["type"], !type.isEmpty, type.utf8.count <= 255 else { return nil }
            var intent: String? = nil, message: String? = nil
            if case .string(let object)? = json["data"]?["object"]?["id"], !object.isEmpty, object.utf8.count <= 255 { intent = object }
            if case .string(let m)? = json["data"]?["object"]?["last_payment_error"]?["message"] { message = String(m.prefix(500)) }
            let object = json["data"]?["object"]
            let cents = type == TopUps.succeeded ? object?["amount_received"] ?? object?["amount"] : object?["amount"]
            var amount: Decimal? = nil
            if case .number(let n)? = cents, let whole = Int64(exactly: n), whole >= 0, whole < 100_000_000_000 { amount = Decimal(whole) / 100 }
            var currency: String? = nil
            if case .string(let c)? = object?["currency"], c.count == 3 { currency = c.uppercased() }
            self.init(id: id, type: type, intentId: intent, failureMessage: message?.replacingOccurrences(of: "\u{0}", with: ""),
                      amount: amount, currency: currency)
        }
    }

    /// What an event did.
    public enum Outcome: String, Sendable, Equatable {
        /// The wallet was credited.
        case credited
        /// The payment failed: recorded, nothing credited.
        case failed
        /// This event id was received before: nothing done.
        case duplicate
        /// The intent was settled before (credited, or failed and not retried): nothing changed.
        case settled
        /// No intent of Troupe's has this id: recorded only.
        case unknownIntent = "unknown-intent"
        /// An event type top-ups do not act on: recorded only.
        case ignored
        /// A success whose amount or currency is not the intent's: nothing credited, an alert raised.
        case mismatch
    }

    /// Applies concurrent webhooks' events in one transaction (one commit for all: the webhook's hot path,
    /// through a ``PostgresBatcher``), in intent order so that two batches lock intents and wallets in the
    /// same order. - Returns: each event's outcome, in the order given.
    public static func apply(batch events: [Event], on db: PostgresConnection) throws -> [Result<Outcome, any Error>] {
        try db.transaction { db in
            // Every lock the batch needs, in one order (intents, then their wallets): two batches, or a batch and
            // an order's debit, wait for each other instead of deadlocking.
            let intents = Array(Set(events.compactMap(\.intentId))).sorted()
            try lockIntents(intents, on: db)
            try db.query("""
                SELECT 1 FROM wallets WHERE partner_id IN (SELECT partner_id FROM payment_intents WHERE id = ANY ($1::text[]))
                ORDER BY partner_id FOR UPDATE
                """, [PostgresArray(intents)])
            var outcomes = [Outcome?](repeating: nil, count: events.count)
            // Repeats of one event keep their order: the first delivery is the one applied.
            for i in events.indices.sorted(by: { (events[$0].intentId ?? "", events[$0].id, $0) < (events[$1].intentId ?? "", events[$1].id, $1) }) {
                outcomes[i] = try applyLocked(events[i], on: db)
            }
            return outcomes.map { .success($0!) }
        }
    }

    /// Applies `event` in the caller's transaction. - Returns: what it did.
    public static func apply(_ event: Event, on db: PostgresConnection) throws -> Outcome {
        if let intent = event.intentId { try lockIntents([intent], on: db) }
        return try applyLocked(event, on: db)
    }

    /// ``apply(_:on:)`` once the intent's lock is held (a batch takes all its locks first).
    private static func applyLocked(_ event: Event, on db: PostgresConnection) throws -> Outcome {
        let fresh = try db.query("""
            INSERT INTO payment_events (id, type, intent_id, outcome, amount, currency, failure_message) VALUES ($1, $2, $3, 'received', $4, $5, $6)
            ON CONFLICT (id) DO NOTHING
            """, [event.id, event.type, event.intentId, event.amount, event.currency, event.failureMessage]).affectedRows == 1
        guard fresh else { return .duplicate }
        let outcome = try effect(of: event, on: db)
        try db.query("UPDATE payment_events SET outcome = $2 WHERE id = $1", [event.id, outcome.rawValue])
        return outcome
    }

    private static func effect(of event: Event, on db: PostgresConnection) throws -> Outcome {
        guard event.type == succeeded || event.type == failed else { return .ignored }
        guard let intentId = event.intentId, let intent = try db.query("""
            SELECT partner_id, amount, currency, status FROM payment_intents WHERE id = $1 FOR UPDATE
            """, [intentId]).rows.first else { return .unknownIntent }
        let partner: UUID = try intent.decode("partner_id"), amount: Decimal = try intent.decode("amount")
        let currency: String = try intent.decode("currency"), status: String = try intent.decode("status")
        var payload: [String: JSONValue] = ["partnerId": .string(partner.lowercasedString), "intentId": .string(intentId),
                                            "amount": Money.json(amount), "currency": .string(currency), "eventId": .string(event.id)]
        if event.type == succeeded {
            if let paid = event.amount, paid != amount || (event.currency.map { $0 != currency } ?? false) {
                try TransactionalOutbox.emit(Envelope(topic: DomainTopic.alertRaised, producerId: Component.payment.rawValue,
                                                      correlationId: "topup-\(intentId)", payload: .object([
                    "kind": .string("payment.amount-mismatch"), "condition": .string("payment-mismatch:\(event.id)"),
                    "message": .string("Payment event \(event.id) says \(Money.format(paid)) \(event.currency ?? "?") was received for intent \(intentId), "
                                       + "created for \(Money.format(amount)) \(currency): nothing was credited"),
                ])), on: db)
                return .mismatch
            }
            guard let balance = try WalletLedger.topUp(partner: partner, amount: amount, key: "\(intentId):topup", createdBy: "payment provider",
                                                       reason: "top-up, payment intent \(intentId)", on: db) else { return .settled }
            try db.query("UPDATE payment_intents SET status = 'succeeded', failure_reason = NULL, updated_at = now() WHERE id = $1", [intentId])
            payload["balance"] = Money.json(balance)
            try TransactionalOutbox.emit(Envelope(topic: DomainTopic.paymentSucceeded, producerId: Component.payment.rawValue,
                                                  correlationId: "topup-\(intentId)", payload: .object(payload)), on: db)
            return .credited
        }
        guard status == "requires_payment" else { return .settled }
        let reason = event.failureMessage ?? "the payment failed"
        try db.query("UPDATE payment_intents SET status = 'failed', failure_reason = $2, updated_at = now() WHERE id = $1", [intentId, reason])
        payload["reason"] = .string(reason)
        try TransactionalOutbox.emit(Envelope(topic: DomainTopic.paymentFailed, producerId: Component.payment.rawValue,
                                              correlationId: "topup-\(intentId)", payload: .object(payload)), on: db)
        return .failed
    }
}
