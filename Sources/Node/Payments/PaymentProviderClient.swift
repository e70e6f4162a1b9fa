import ActorRuntime
import AsyncHTTPClient
import Domain
import Foundation
import NIOCore
import NIOHTTP1

/// The payment provider's API (Stripe's shape, or `troupe-payment-sim`): creates payment intents with the
/// secret key, passing an idempotency key so that a request repeated after a lost answer creates no second
/// intent. Uses AsyncHTTPClient's shared client (its own event loops, off the cooperative pool).
struct PaymentProviderClient: Sendable {
    let base: String
    let secretKey: String
    let timeout: Duration

    init(_ provider: Topology.PaymentProvider) {
        base = provider.url.hasSuffix("/") ? String(provider.url.dropLast()) : provider.url
        secretKey = provider.secretKey
        timeout = provider.timeout
    }

    /// An intent as the provider answered.
    struct Intent: Sendable, Equatable {
        let id: String
        let clientSecret: String
        let status: String
        /// What the intent is for, as the provider says (an idempotent repeat answers the first request's).
        let amount: Decimal
        let currency: String
    }

    /// The provider could not be reached or failed (`status` nil or 5xx: try again), or refused the
    /// request (4xx: trying again will not help). `message` is for the log.
    struct Failure: Error, CustomStringConvertible {
        let message: String
        var status: Int? = nil
        var refused: Bool { status.map { (400..<500).contains($0) } ?? false }
        var description: String { "payment provider: \(message)" }
    }

    /// `POST /v1/payment_intents` for `amount` (in cents on the wire) with the partner in the metadata.
    func createIntent(amount: Decimal, currency: String, partner: UUID, idempotencyKey: String) async throws -> Intent {
        let cents = NSDecimalNumber(decimal: amount * 100).int64Value
        var request = HTTPClientRequest(url: base + "/v1/payment_intents")
        request.method = .POST
        request.headers.add(name: "authorization", value: "Bearer \(secretKey)")
        request.headers.add(name: "content-type", value: "application/json")
        request.headers.add(name: "idempotency-key", value: idempotencyKey)
        let body: JSONValue = .object(["amount": .number(Double(cents)), "currency": .string(currency.lowercased()),
                                       "metadata": .object(["partnerId": .string(partner.lowercasedString), "purpose": .string("wallet top-up")])])
        request.body = .bytes(ByteBuffer(bytes: body.jsonBytes))
        let response: HTTPClientResponse
        let bytes: ByteBuffer
        do {
            response = try await HTTPClient.shared.execute(request, timeout: .nanoseconds(Int64(timeout.inSeconds * 1e9)))
            bytes = try await response.body.collect(upTo: 1 << 20)
        } catch {
            throw Failure(message: "POST /v1/payment_intents failed: \(error)")
        }
        let json = (try? JSONValue(parsing: Array(buffer: bytes))) ?? .null
        guard (200..<300).contains(Int(response.status.code)) else {
            throw Failure(message: "POST /v1/payment_intents answered \(response.status.code): \(json["error"]?["message"] ?? .null)",
                          status: Int(response.status.code))
        }
        guard case .string(let id)? = json["id"], !id.isEmpty, id.utf8.count <= 255, case .string(let secret)? = json["client_secret"],
              case .number(let amountCents)? = json["amount"], let whole = Int64(exactly: amountCents), case .string(let answeredCurrency)? = json["currency"]
        else {
            throw Failure(message: "the intent has no id, client_secret, amount or currency")
        }
        let status: String
        if case .string(let s)? = json["status"] { status = s } else { status = "requires_payment_method" }
        return Intent(id: id, clientSecret: secret, status: status, amount: Decimal(whole) / 100, currency: answeredCurrency.uppercased())
    }
}
