import ActorRuntime
import Bridges
import Domain
import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// Wallet top-ups through the payment provider: `POST /v1/payments/create-intent` (x-api-key, with an
/// `Idempotency-Key` remembered 24 h) and the provider's `POST /v1/webhooks/payments` (signed over the raw
/// body; see ``TopUps``). Without a `paymentProvider` in the topology both answer 404.
enum PaymentRoutes {
    static let idempotencyHeader = HTTPField.Name("Idempotency-Key")!
    static let signatureHeader = HTTPField.Name("Stripe-Signature")!

    static func add(to router: Router<EdgeContext>, keys: APIKeyMiddleware, provider: Topology.PaymentProvider?, pool: PostgresPool,
                    limits: EdgeRateLimits, logger: Logger) {
        let client = provider.map(PaymentProviderClient.init)
        // Concurrent webhooks are applied together, one commit for many.
        let events = PostgresBatcher<TopUps.Event, TopUps.Outcome>(pool: pool, writers: 2) { batch, db in try TopUps.apply(batch: batch, on: db) }
        router.group("/v1/payments").add(middleware: keys).post("/create-intent") { request, context -> Response in
            guard let provider, let client else { throw EdgeError.notFound("top-ups are not configured (no paymentProvider)") }
            let partner = context.caller!.partnerID
            let body = try await request.body.collect(upTo: 1 << 16)
            let amount = try Self.amount(in: body)
            let key = request.headers[idempotencyHeader]
            if let key, !IdempotencyKeys.isValid(key) {
                throw EdgeError.badRequest("Idempotency-Key: must be 1 to 255 printable ASCII characters")
            }
            let requestHash = IdempotencyKeys.hash("amount=\(Money.format(amount))&currency=\(provider.currency)")
            if let key, let stored = try await pool.withConnection({ db in try IdempotencyKeys.find(partner: partner, key: key, on: db) }) {
                return try replay(stored, requestHash: requestHash)
            }
            let intent: PaymentProviderClient.Intent
            do {
                // The provider's own idempotency key: a repeat after a lost answer gets the same intent.
                intent = try await client.createIntent(amount: amount, currency: provider.currency, partner: partner,
                                                       idempotencyKey: key.map { "\(partner.lowercasedString):\($0)" } ?? UUID.v7().lowercasedString)
            } catch let failure as PaymentProviderClient.Failure where failure.refused {
                logger.warning("payment provider refused an intent", metadata: ["reason": "\(failure)"])
                // A concurrent request with this key and another amount reached the provider first.
                if let key, let stored = try await pool.withConnection({ db in try IdempotencyKeys.find(partner: partner, key: key, on: db) }) {
                    return try replay(stored, requestHash: requestHash)
                }
                throw EdgeError.unprocessable("the payment provider refused this top-up (a repeated Idempotency-Key with another amount, or an amount it does not take)")
            } catch {
                logger.warning("payment provider call failed", metadata: ["reason": "\(error)"])
                throw EdgeError(status: .badGateway, code: "provider_unavailable", message: "the payment provider did not answer; try again")
            }
            // A concurrent request with the same key and another amount got this intent first.
            guard intent.amount == amount, intent.currency == provider.currency else {
                throw EdgeError.conflict("Idempotency-Key: already used with a different request in the last 24 hours")
            }
            let answer: JSONValue = .object([
                "intentId": .string(intent.id), "clientSecret": .string(intent.clientSecret), "amount": Money.json(amount),
                "currency": .string(provider.currency), "status": .string(intent.status),
            ])
            let ours = IdempotencyKeys.Stored(requestHash: requestHash, status: 201, response: String(decoding: answer.jsonBytes, as: UTF8.self))
            let stored: IdempotencyKeys.Stored
            do {
                stored = try await pool.transaction { db -> IdempotencyKeys.Stored in
                    try TopUps.recordIntent(id: intent.id, partner: partner, amount: amount, currency: provider.currency, on: db)
                    guard let key else { return ours }
                    return try IdempotencyKeys.store(partner: partner, key: key, ours, on: db)
                }
            } catch let conflict as TopUps.IntentConflict {
                logger.warning("payment intent answered for another request", metadata: ["reason": "\(conflict)"])
                throw EdgeError.conflict("Idempotency-Key: already used with a different request in the last 24 hours")
            }
            // A request with the same key that stored its answer first (both got the same intent): its answer.
            if stored != ours { return try replay(stored, requestHash: requestHash) }
            return EdgeJSON.response(.created, answer)
        }

        router.post("/v1/webhooks/payments") { request, context -> Response in
            guard let provider else { throw EdgeError.notFound("top-ups are not configured (no paymentProvider)") }
            func refuse() throws -> Never {
                // Counted like a bad API key: a client guessing signatures is limited per IP.
                try limits.take(.badCredentials, client: context.clientIP)
                logger.warning("payment webhook refused: its signature is missing, not valid or too old",
                               metadata: ["client": "\(context.clientIP)", "signed": "\(request.headers[signatureHeader] != nil)"])
                throw EdgeError.badRequest("Stripe-Signature: missing, not valid, or older than the tolerance")
            }
            // Unsigned: refused before the body is read.
            guard let signature = request.headers[signatureHeader] else { try refuse() }
            let body = Array(buffer: try await request.body.collect(upTo: 256 << 10))
            guard WebhookSignature.verify(signature, body: body, secret: provider.webhookSecret, tolerance: provider.tolerance.inSeconds) else {
                try refuse()
            }
            guard let json = try? JSONValue(parsing: body), let event = TopUps.Event(json: json) else {
                throw EdgeError.badRequest("the event must be a JSON object with id, type and data.object.id (ids: 1 to 255 printable ASCII characters)")
            }
            let outcome = try await events.submit(event)
            switch outcome {
            case .unknownIntent:
                logger.warning("payment event for an intent Troupe does not know; recorded", metadata: ["event": "\(event.id)", "type": "\(event.type)",
                                                                                                     "intent": "\(event.intentId ?? "none")"])
            case .mismatch:
                logger.error("payment event's amount is not its intent's; nothing credited, alert raised",
                             metadata: ["event": "\(event.id)", "intent": "\(event.intentId ?? "")"])
            case .credited, .failed:
                logger.info("payment event applied", metadata: ["event": "\(event.id)", "outcome": "\(outcome.rawValue)", "intent": "\(event.intentId ?? "")"])
            case .duplicate, .settled, .ignored:
                break
            }
            return EdgeJSON.response(.ok, .object(["received": .bool(true), "outcome": .string(outcome.rawValue)]))
        }
    }

    /// `{"amount": 100.00}`: from 0.50 to 999,999.99 (what a provider takes in cents), at most 2 decimals; no
    /// other field.
    static func amount(in body: ByteBuffer) throws -> Decimal {
        guard let json = try? JSONValue(parsing: Array(buffer: body)), case .object(let o) = json else {
            throw EdgeError.badRequest("the body must be a JSON object like {\"amount\": 100}")
        }
        if let unknown = o.keys.sorted().first(where: { $0 != "amount" }) { throw EdgeError.badRequest("\(unknown): unknown field") }
        guard case .number(let n)? = o["amount"] else { throw EdgeError.badRequest("amount: is required (a number)") }
        guard n >= 0.5, n < 1_000_000, abs(n * 100 - (n * 100).rounded()) < 1e-6, let amount = Money.parse(String(format: "%.2f", n)) else {
            throw EdgeError.unprocessable("amount: must be from 0.50 to 999999.99 with at most 2 decimals")
        }
        return amount
    }

    /// The stored answer for a repeated key, or 409 when the key came with another request.
    static func replay(_ stored: IdempotencyKeys.Stored, requestHash: String) throws -> Response {
        guard stored.requestHash == requestHash else {
            throw EdgeError.conflict("Idempotency-Key: already used with a different request in the last 24 hours")
        }
        var response = Response(status: .init(code: stored.status), headers: [.contentType: "application/json; charset=utf-8"],
                                body: ResponseBody(byteBuffer: ByteBuffer(string: stored.response)))
        response.headers[HTTPField.Name("Idempotent-Replayed")!] = "true"
        return response
    }
}
