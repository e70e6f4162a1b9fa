import ActorRuntime
import Bridges
import Foundation

/// Wallet top-ups through the payment provider: the intents Troupe created for partners, and the
/// provider's events applied once each (deduplicated by the event's id in `payment_events`, committed with
/// their effects). A `payment_intent.succeeded` credits the intent's amount once (the ledger entry is keyed
/// by the intent) and emits `payment.succeeded`; a `payment_intent.payment_failed` records the failure and
/// emits `payment.failed`; an event for an intent Troupe does not know is recorded and answered, so the
/// provider stops retrying it.
public enum TopUps {
    public static let succeeded = "payment_intent.succeeded"
    public static let failed = "payment_intent.payment_failed"

    /// Records an intent the provider created for `partner` (again: nothing).
    public static func recordIntent(id: String, partner: UUID, amount: Decimal, currency: String, on db: PostgresConnection) throws {
        try db.query("""
            INSERT INTO payment_intents (id, partner_id, amount, currency) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING
            """, [id, partner, amount, currency])
    }

    /// A provider event, as the webhook reads it.
    public struct Event: Sendable, Equatable {
        public let id: String
        public let type: String
        public let intentId: String?
        /// The provider's reason for a failed payment.
        public let failureMessage: String?

        public init(id: String, type: String, intentId: String?, failureMessage: String? = nil) {
            self.id = id
            self.type = type
            self.intentId = intentId
            self.failureMessage = failureMessage
        }

        /// Reads Stripe's event shape: `{"id", "type", "data": {"object": {"id", "last_payment_error": {"message"}}}}`.
        public init?(json: JSONValue) {
            guard case .string(let id)? = json["id"], !id.isEmpty, id.utf8.count <= 255,
                  case .string(let type)? = json["type"], !type.isEmpty, type.utf8.count <= 255 else { return nil }
            var intent: String? = nil, message: String? = nil
            if case .string(let object)? = json["data"]?["object"]?["id"], !object.isEmpty, object.utf8.count <= 255 { intent = object }
            if case .string(let m)? = json["data"]?["object"]?["last_payment_error"]?["message"] { message = String(m.prefix(500)) }
            self.init(id: id, type: type, intentId: intent, failureMessage: message)
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
    }

    /// Applies `event` in the caller's transaction. - Returns: what it did.
    public static func apply(_ event: Event, on db: PostgresConnection) throws -> Outcome {
        let fresh = try db.query("""
            INSERT INTO payment_events (id, type, intent_id, outcome) VALUES ($1, $2, $3, 'received') ON CONFLICT (id) DO NOTHING
            """, [event.id, event.type, event.intentId]).affectedRows == 1
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
