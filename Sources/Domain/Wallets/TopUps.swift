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
        return try settle(early.map { row in
            Event(id: try row.decode("id"), type: try row.decode("type"), intentId: id, failureMessage: try row.decode("failure_message"),
                  amount: try row.decode("amount"), currency: try row.decode("currency"))
        }, on: db)
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

        /// A provider's id (`evt_...`, `pi_...`): 1 to 255 printable ASCII characters. Others are refused, not
        /// compared: Swift's strings take canonically equivalent text as equal where PostgreSQL compares bytes,
        /// so a batch could take two such events for one.
        static func isProviderID(_ id: String) -> Bool { IdempotencyKeys.isValid(id) }    // the same rule

        /// Reads Stripe's event shape: `{"id", "type", "data": {"object": {"id", "amount", "amount_received", "currency",
        /// "last_payment_error": {"message"}}}}` (amounts in cents); nil when an id is not ``isProviderID(_:)``.
        public init?(json: JSONValue) {
            guard case .string(let id)? = json["id"], Self.isProviderID(id),
                  case .string(let type)? = json["type"], !type.isEmpty, type.utf8.count <= 255 else { return nil }
            var intent: String? = nil, message: String? = nil
            if case .string(let object)? = json["data"]?["object"]?["id"] {
                guard Self.isProviderID(object) else { return nil }
                intent = object
            }
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
    /// through a ``PostgresBatcher``), with a few statements whatever their number. - Returns: each event's
    /// outcome, in the order given.
    public static func apply(batch events: [Event], on db: PostgresConnection) throws -> [Result<Outcome, any Error>] {
        try db.transaction { db in try applyAll(events, on: db).map { .success($0) } }
    }

    /// Applies `event` in the caller's transaction. - Returns: what it did.
    public static func apply(_ event: Event, on db: PostgresConnection) throws -> Outcome {
        try applyAll([event], on: db)[0]
    }

    /// Applies `events` in the caller's transaction, in intent order; repeats of one event keep their order, so
    /// the first delivery is the one applied. Locks are taken in one order (the intents' advisory locks, the
    /// events' rows, the intents' rows, their wallets), so two batches, or a batch and an order's debit, wait
    /// for each other instead of deadlocking.
    static func applyAll(_ events: [Event], on db: PostgresConnection) throws -> [Outcome] {
        try lockIntents(Array(Set(events.compactMap(\.intentId))), on: db)
        let order = events.indices.sorted { (events[$0].intentId ?? "", events[$0].id, $0) < (events[$1].intentId ?? "", events[$1].id, $1) }
        var first: [String: Int] = [:]                   // an id's first delivery in that order
        for i in order where first[events[i].id] == nil { first[events[i].id] = i }
        let firsts = order.filter { first[events[$0].id] == $0 }.map { events[$0] }
        let fresh = Set(try db.query("""
            INSERT INTO payment_events (id, type, intent_id, outcome, amount, currency, failure_message)
            SELECT id, type, intent_id, 'received', amount, currency, failure_message
            FROM unnest($1::text[], $2::text[], $3::text[], $4::numeric[], $5::text[], $6::text[])
                 AS e(id, type, intent_id, amount, currency, failure_message)
            ON CONFLICT (id) DO NOTHING RETURNING id
            """, [PostgresArray(firsts) { $0.id }, PostgresArray(firsts) { $0.type }, PostgresArray(firsts) { $0.intentId },
                  PostgresArray(firsts) { $0.amount }, PostgresArray(firsts) { $0.currency }, PostgresArray(firsts) { $0.failureMessage }])
            .rows.map { try $0.decode("id", as: String.self) })
        let applied = firsts.filter { fresh.contains($0.id) }
        var outcomes: [String: Outcome] = [:]
        for (event, outcome) in zip(applied, try settle(applied, on: db)) { outcomes[event.id] = outcome }
        // An event recorded before, and the later deliveries of one in this batch, are repeats.
        return events.indices.map { i in first[events[i].id] == i ? outcomes[events[i].id] ?? .duplicate : .duplicate }
    }

    /// An intent as ``settle(_:on:)`` finds and changes it.
    private struct IntentState {
        let partner: UUID
        let amount: Decimal
        let currency: String
        var status: String
        var failureReason: String?
        /// Its top-up is in the ledger.
        var credited: Bool
    }

    /// A wallet credit ``settle(_:on:)`` writes.
    private struct Credit {
        let partner: UUID
        let amount: Decimal
        let intent: String
    }

    /// The ledger did not take a credit the intents and wallets just read said it would: the batch is not committed.
    struct LedgerDisagrees: Error, CustomStringConvertible {
        let expected: Int, written: Int
        var description: String { "\(written) of \(expected) top-up credits were written: the ledger changed under the intents' locks" }
    }

    /// Does what `events` do (each recorded for the first time, in the order to apply them): reads their intents
    /// and wallets, decides each event's outcome as if applied one by one, then writes the credits, the intents'
    /// new states, the events to emit and each event's outcome, in one statement. - Returns: the outcomes, in order.
    private static func settle(_ events: [Event], on db: PostgresConnection) throws -> [Outcome] {
        guard !events.isEmpty else { return [] }
        var intents: [String: IntentState] = [:]
        let acted = Array(Set(events.filter { $0.type == succeeded || $0.type == failed }.compactMap(\.intentId)))
        if !acted.isEmpty {
            for row in try db.query("""
                SELECT i.id, i.partner_id, i.amount, i.currency, i.status,
                       EXISTS (SELECT 1 FROM wallet_entries e WHERE e.idempotency_key = i.id || ':topup') AS credited
                FROM payment_intents i WHERE i.id = ANY ($1::text[]) ORDER BY i.id FOR UPDATE OF i
                """, [PostgresArray(acted)]).rows {
                intents[try row.decode("id")] = IntentState(partner: try row.decode("partner_id"), amount: try row.decode("amount"),
                                                            currency: try row.decode("currency"), status: try row.decode("status"),
                                                            failureReason: nil, credited: try row.decode("credited"))
            }
        }
        // The wallets a success may credit, locked in their order, with their balances (none: the partner has no wallet).
        var balances: [UUID: Decimal] = [:]
        let payees = Array(Set(events.filter { $0.type == succeeded }.compactMap { $0.intentId.flatMap { intents[$0]?.partner } }))
        if !payees.isEmpty {
            for row in try db.query("SELECT partner_id, balance FROM wallets WHERE partner_id = ANY ($1::uuid[]) ORDER BY partner_id FOR UPDATE",
                                    [PostgresArray(payees)]).rows {
                balances[try row.decode("partner_id")] = try row.decode("balance")
            }
        }
        var outcomes: [Outcome] = [], credits: [Credit] = [], envelopes: [Envelope] = [], changed = Set<String>()
        for event in events {
            guard event.type == succeeded || event.type == failed else { outcomes.append(.ignored); continue }
            guard let id = event.intentId, var intent = intents[id] else { outcomes.append(.unknownIntent); continue }
            var payload: [String: JSONValue] = ["partnerId": .string(intent.partner.lowercasedString), "intentId": .string(id),
                                                "amount": Money.json(intent.amount), "currency": .string(intent.currency), "eventId": .string(event.id)]
            if event.type == succeeded {
                if let paid = event.amount, paid != intent.amount || (event.currency.map { $0 != intent.currency } ?? false) {
                    envelopes.append(Envelope(topic: DomainTopic.alertRaised, producerId: Component.payment.rawValue, correlationId: "topup-\(id)", payload: .object([
                        "kind": .string("payment.amount-mismatch"), "condition": .string("payment-mismatch:\(event.id)"),
                        "message": .string("Payment event \(event.id) says \(Money.format(paid)) \(event.currency ?? "?") was received for intent \(id), "
                                           + "created for \(Money.format(intent.amount)) \(intent.currency): nothing was credited"),
                    ])))
                    outcomes.append(.mismatch)
                    continue
                }
                guard !intent.credited, let balance = balances[intent.partner] else { outcomes.append(.settled); continue }
                balances[intent.partner] = balance + intent.amount
                credits.append(Credit(partner: intent.partner, amount: intent.amount, intent: id))
                intent.credited = true
                intent.status = "succeeded"
                intent.failureReason = nil
                payload["balance"] = Money.json(balance + intent.amount)
                envelopes.append(Envelope(topic: DomainTopic.paymentSucceeded, producerId: Component.payment.rawValue,
                                          correlationId: "topup-\(id)", payload: .object(payload)))
                outcomes.append(.credited)
            } else {
                guard intent.status == "requires_payment" else { outcomes.append(.settled); continue }
                let reason = event.failureMessage ?? "the payment failed"
                intent.status = "failed"
                intent.failureReason = reason
                payload["reason"] = .string(reason)
                envelopes.append(Envelope(topic: DomainTopic.paymentFailed, producerId: Component.payment.rawValue,
                                          correlationId: "topup-\(id)", payload: .object(payload)))
                outcomes.append(.failed)
            }
            intents[id] = intent
            changed.insert(id)
        }
        // Everything the batch writes, in one statement (one round trip): the credits and their wallets, the
        // intents' new states, the events to emit, each event's outcome.
        let ids = changed.sorted()
        let outbox = TransactionalOutbox.insertion(envelopes, firstParameter: 10, on: db)
        let written: Int = try db.query("""
            WITH credit AS (SELECT * FROM unnest($1::uuid[], $2::numeric[], $3::text[], $4::text[]) AS c(partner_id, amount, key, reason)),
            entry AS (INSERT INTO wallet_entries (partner_id, kind, amount, idempotency_key, created_by, reason)
                      SELECT partner_id, 'topup', amount, key, 'payment provider', reason FROM credit
                      ON CONFLICT (idempotency_key) DO NOTHING RETURNING partner_id, amount),
            bumped AS (UPDATE wallets w SET balance = w.balance + t.amount, updated_at = now()
                       FROM (SELECT partner_id, sum(amount) AS amount FROM entry GROUP BY partner_id) t WHERE w.partner_id = t.partner_id
                       RETURNING 1),
            intent AS (UPDATE payment_intents i SET status = c.status, failure_reason = c.reason, updated_at = now()
                       FROM unnest($5::text[], $6::text[], $7::text[]) AS c(id, status, reason) WHERE i.id = c.id RETURNING 1),
            outcome AS (UPDATE payment_events e SET outcome = o.outcome FROM unnest($8::text[], $9::text[]) AS o(id, outcome)
                        WHERE e.id = o.id RETURNING 1),
            emitted AS (\(outbox.sql) RETURNING 1)
            SELECT count(*)::int AS n FROM entry
            """, [PostgresArray(credits) { $0.partner }, PostgresArray(credits) { $0.amount }, PostgresArray(credits) { "\($0.intent):topup" },
                  PostgresArray(credits) { "top-up, payment intent \($0.intent)" },
                  PostgresArray(ids), PostgresArray(ids) { intents[$0]!.status }, PostgresArray(ids) { intents[$0]!.failureReason },
                  PostgresArray(events) { $0.id }, PostgresArray(outcomes) { $0.rawValue }] + outbox.parameters).rows[0].decode("n")
        guard written == credits.count else { throw LedgerDisagrees(expected: credits.count, written: written) }
        return outcomes
    }
}
