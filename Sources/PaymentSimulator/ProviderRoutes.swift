import ActorRuntime
import Foundation
import HTTPTypes
import Hummingbird

/// The simulator's HTTP endpoints, in Stripe's shapes (JSON bodies instead of form encoding).
struct ProviderRoutes: Sendable {
    let state: ProviderState
    let secretKey: String

    func add(to router: Router<BasicRequestContext>) {
        router.post("/v1/payment_intents") { request, _ in try await create(request) }
        router.get("/v1/payment_intents/:id") { request, context in
            guard authorized(request) else { return unauthorized() }
            guard let intent = await state.intents[context.parameters.get("id") ?? ""] else {
                return error(.notFound, "resource_missing", "No such payment_intent")
            }
            return reply(.ok, intent.json)
        }
        router.post("/sim/intents/:id/succeed") { request, context in try await settle(request, context, succeeded: true) }
        router.post("/sim/intents/:id/fail") { request, context in try await settle(request, context, succeeded: false) }
        router.get("/sim/stats") { _, _ in
            let counts = state.sender.counts.withLock { $0 }
            return reply(.ok, .object(["intents": .number(Double(await state.intents.count)), "events": .number(Double(await state.eventsSent)),
                                       "deliveriesTried": .number(Double(counts.tried)), "deliveriesDelivered": .number(Double(counts.delivered))]))
        }
    }

    func reply(_ status: HTTPResponse.Status, _ value: JSONValue) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: value.jsonBytes)))
    }

    func error(_ status: HTTPResponse.Status, _ code: String, _ message: String) -> Response {
        reply(status, .object(["error": .object(["type": .string("invalid_request_error"), "code": .string(code), "message": .string(message)])]))
    }

    func authorized(_ request: Request) -> Bool { request.headers[.authorization] == "Bearer \(secretKey)" }

    func unauthorized() -> Response { error(.unauthorized, "invalid_api_key", "Invalid API Key provided") }

    /// `{"amount": 1000, "currency": "usd", "metadata": {...}}`: amount in the currency's smallest unit.
    func create(_ request: Request) async throws -> Response {
        guard authorized(request) else { return unauthorized() }
        let body = try await request.body.collect(upTo: 1 << 16)
        guard let input = try? JSONValue(parsing: Array(buffer: body)), case .number(let n)? = input["amount"], let amount = Int(exactly: n),
              amount >= 50, amount <= 99_999_999, case .string(let currency)? = input["currency"], currency.count == 3 else {
            return error(.badRequest, "parameter_invalid", "amount (a whole number of cents, 50 to 99999999) and currency (3 letters) are required")
        }
        let key = request.headers[HTTPField.Name("Idempotency-Key")!]
        guard let intent = await state.create(amount: amount, currency: currency.lowercased(), metadata: input["metadata"] ?? .object([:]),
                                              idempotencyKey: key) else {
            return error(.badRequest, "idempotency_error", "Keys for idempotent requests can only be used with the same parameters they were first used with")
        }
        return reply(.ok, intent.json)
    }

    /// Settles the intent; `{"deliveries": 3}` sends its event three times.
    func settle(_ request: Request, _ context: BasicRequestContext, succeeded: Bool) async throws -> Response {
        let body = try await request.body.collect(upTo: 1 << 16)
        var deliveries = 1
        if let input = try? JSONValue(parsing: Array(buffer: body)), case .number(let n)? = input["deliveries"], let d = Int(exactly: n) {
            deliveries = min(max(1, d), 100)
        }
        guard let eventId = await state.settle(context.parameters.get("id") ?? "", succeeded: succeeded, deliveries: deliveries) else {
            return error(.notFound, "resource_missing", "No such payment_intent")
        }
        return reply(.ok, .object(["eventId": .string(eventId)]))
    }
}
