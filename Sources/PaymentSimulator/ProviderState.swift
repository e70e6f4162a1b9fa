import ActorRuntime
import Foundation

/// The simulated provider's memory: intents (idempotent on the caller's `Idempotency-Key`) and the events
/// it sent.
actor ProviderState {
    struct Intent: Sendable {
        let id: String
        let amount: Int
        let currency: String
        let clientSecret: String
        let metadata: JSONValue
        var status = "requires_payment_method"
        let created = Date()

        var json: JSONValue {
            .object(["id": .string(id), "object": .string("payment_intent"), "amount": .number(Double(amount)),
                     "amount_received": .number(Double(status == "succeeded" ? amount : 0)), "currency": .string(currency),
                     "client_secret": .string(clientSecret), "status": .string(status), "metadata": metadata,
                     "created": .number(created.timeIntervalSince1970.rounded(.down))])
        }
    }

    let sender: WebhookSender
    let autoConfirm: Duration?
    let autoSucceeds: Bool
    private(set) var intents: [String: Intent] = [:]
    private var byIdempotencyKey: [String: String] = [:]
    private(set) var eventsSent = 0

    init(sender: WebhookSender, autoConfirm: Duration?, autoSucceeds: Bool) {
        self.sender = sender
        self.autoConfirm = autoConfirm
        self.autoSucceeds = autoSucceeds
    }

    /// Creates an intent, or returns the one created under `idempotencyKey`; nil when that key came with
    /// another amount or currency (Stripe answers 400 `idempotency_error`).
    func create(amount: Int, currency: String, metadata: JSONValue, idempotencyKey: String?) -> Intent? {
        if let key = idempotencyKey, let id = byIdempotencyKey[key], let existing = intents[id] {
            return existing.amount == amount && existing.currency == currency ? existing : nil
        }
        let id = "pi_" + Self.token(24)
        let intent = Intent(id: id, amount: amount, currency: currency, clientSecret: id + "_secret_" + Self.token(24), metadata: metadata)
        intents[id] = intent
        if let key = idempotencyKey { byIdempotencyKey[key] = id }
        if let autoConfirm {
            let succeeds = autoSucceeds
            Task { [weak self] in
                try? await Task.sleep(for: autoConfirm)
                _ = await self?.settle(id, succeeded: succeeds, deliveries: 1)
            }
        }
        return intent
    }

    /// Settles an intent and sends its event `deliveries` times (the same event id each time, as a provider
    /// that retries would). - Returns: the event's id, or nil for an unknown intent.
    func settle(_ id: String, succeeded: Bool, deliveries: Int) -> String? {
        guard var intent = intents[id] else { return nil }
        intent.status = succeeded ? "succeeded" : "requires_payment_method"
        intents[id] = intent
        var object = intent.json
        if !succeeded, case .object(var fields) = object {
            fields["last_payment_error"] = .object(["code": .string("card_declined"), "message": .string("Your card was declined.")])
            object = .object(fields)
        }
        let eventId = "evt_" + Self.token(24)
        let event: JSONValue = .object([
            "id": .string(eventId), "object": .string("event"), "api_version": .string("2024-06-20"),
            "type": .string(succeeded ? "payment_intent.succeeded" : "payment_intent.payment_failed"),
            "created": .number(Date().timeIntervalSince1970.rounded(.down)), "data": .object(["object": object]),
        ])
        eventsSent += 1
        for _ in 0..<max(1, deliveries) { sender.send(event.jsonBytes) }
        return eventId
    }

    static func token(_ n: Int) -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        var rng = SystemRandomNumberGenerator()
        return String((0..<n).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &rng)] })
    }
}
