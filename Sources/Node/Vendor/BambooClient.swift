import ActorRuntime
import AsyncHTTPClient
import Domain
import Foundation
import NIOCore
import NIOHTTP1

/// The saga's ``VendorAdapter`` over Bamboo's HTTP API (or `troupe-vendor-sim`): checkout
/// (`POST /api/integration/v2.0/orders/checkout`) and order status (`GET /api/integration/v1.0/orders/{requestId}`),
/// with Basic auth. Uses AsyncHTTPClient's shared client (its own event loops, off the cooperative pool).
struct BambooClient: VendorAdapter {
    let base: String
    let authorization: String
    let accountId: Int
    let timeout: Duration

    init(_ vendor: Topology.Vendor) {
        base = vendor.url.hasSuffix("/") ? String(vendor.url.dropLast()) : vendor.url
        authorization = "Basic " + Data("\(vendor.clientId):\(vendor.clientSecret)".utf8).base64EncodedString()
        accountId = vendor.accountId
        timeout = vendor.timeout
    }

    func placeOrder(requestId: String, productId: String, quantity: Int, faceValue: Decimal) async throws -> String {
        guard let product = Int(productId) else { throw VendorError("product id '\(productId)' is not a Bamboo product id", status: 400) }
        let body: JSONValue = .object([
            "RequestId": .string(requestId), "AccountId": .number(Double(accountId)),
            "Products": .array([.object(["ProductId": .number(Double(product)), "Quantity": .number(Double(quantity)),
                                         "Value": Money.json(faceValue)])]),
        ])
        let reply = try await call(.POST, "/api/integration/v2.0/orders/checkout", body)
        switch reply["OrderId"] {
        case .number(let n)?:
            guard let id = Int64(exactly: n) else { throw VendorError("the checkout's OrderId \(n) is not a whole number") }
            return String(id)
        case .string(let s)?: return s
        default: return requestId                    // Bamboo may answer with the request id alone
        }
    }

    func order(requestId: String) async throws -> VendorOrderState {
        let reply: JSONValue
        do {
            reply = try await call(.GET, "/api/integration/v1.0/orders/\(requestId)", nil)
        } catch let error as VendorError where error.status == 404 {
            return .notFound
        }
        guard case .string(let status)? = reply["Status"] else { throw VendorError("order status without a Status") }
        switch status.lowercased() {
        case "succeeded", "completed":
            var cards: [JSONValue] = []
            if case .array(let items)? = reply["Items"] {
                for item in items { if case .array(let c)? = item["Cards"] { cards += c } }
            }
            return .succeeded(cards: .array(cards))
        case "failed", "cancelled", "canceled": return .failed(reason: "vendor status \(status)")
        default: return .processing
        }
    }

    func call(_ method: HTTPMethod, _ path: String, _ body: JSONValue?, upTo limit: Int = 4 << 20) async throws -> JSONValue {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        request.headers.add(name: "authorization", value: authorization)
        request.headers.add(name: "accept", value: "application/json")
        if let body {
            request.headers.add(name: "content-type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body.jsonBytes))
        }
        let response: HTTPClientResponse
        let bytes: ByteBuffer
        do {
            response = try await HTTPClient.shared.execute(request, timeout: .nanoseconds(Int64(timeout.inSeconds * 1e9)))
            bytes = try await response.body.collect(upTo: limit)
        } catch {
            throw VendorError("\(method.rawValue) \(path) failed: \(error)")
        }
        let json = (try? JSONValue(parsing: Array(buffer: bytes))) ?? .null
        guard (200..<300).contains(Int(response.status.code)) else {
            // Bamboo's JSON `message` (or `Message`), else the body's text: a 429's wait is read from it.
            let text = [json["message"], json["Message"]].lazy.compactMap { v -> String? in if case .string(let s)? = v { s } else { nil } }.first
            let body = String(decoding: bytes.readableBytesView.prefix(2000), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            let message = text ?? (body.isEmpty ? response.status.reasonPhrase : body)
            throw VendorError(message, status: Int(response.status.code), retryAfter: response.headers.first(name: "retry-after"))
        }
        return json
    }
}

extension BambooClient: CatalogSource {
    /// `GET {v2}/categories`, as the vendor sends it. A 429 says how long to wait.
    func categories() async throws -> JSONValue { try await call(.GET, "/api/integration/v2.0/categories", nil) }

    /// `GET {v1}/catalog`, as the vendor sends it (up to 64 MiB: every brand and product at once).
    func catalog() async throws -> JSONValue { try await call(.GET, "/api/integration/v1.0/catalog", nil, upTo: 64 << 20) }
}
