import ActorRuntime
import Foundation

/// The gift-card vendor as the saga needs it (Bamboo, or its simulator). Both calls are idempotent:
/// an order is placed under a request id (Troupe uses the order's id), and placing it again returns it.
public protocol VendorAdapter: Sendable {
    /// Places an order for `quantity` cards of `faceValue` of the vendor's product `productId`.
    /// - Returns: the vendor's order id.
    func placeOrder(requestId: String, productId: String, quantity: Int, faceValue: Decimal) async throws -> String
    /// Where the vendor's order placed under `requestId` is.
    func order(requestId: String) async throws -> VendorOrderState
}

/// A vendor order's state, as polled.
public enum VendorOrderState: Sendable, Equatable {
    case processing
    /// Done: the cards the vendor issued (kept with the order as the vendor sent them).
    case succeeded(cards: JSONValue)
    case failed(reason: String)
    /// The vendor has no order under this request id (it answered 404): a checkout that never arrived.
    case notFound
}

/// The vendor answered with an error (or not at all).
public struct VendorError: Error, CustomStringConvertible, ClassifiedError {
    public let message: String
    /// HTTP status, when it answered.
    public let status: Int?
    /// The `Retry-After` header of a 429 or 503, as sent.
    public let retryAfter: String?
    public init(_ message: String, status: Int? = nil, retryAfter: String? = nil) {
        self.message = message
        self.status = status
        self.retryAfter = retryAfter
    }
    /// The vendor said no: a 4xx other than 408/429 will not get better by trying again, and says the
    /// request was refused, not half done. Everything else (5xx, a timeout, a dropped connection) leaves
    /// unknown whether a checkout was placed.
    public var disposition: FailureDisposition {
        if let status, (400..<500).contains(status), status != 408, status != 429 { return .permanent }
        return .transient
    }
    public var description: String { status.map { "vendor answered \($0): \(message)" } ?? "vendor: \(message)" }
}
