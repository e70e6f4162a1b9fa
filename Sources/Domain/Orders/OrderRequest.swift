import ActorRuntime
import Foundation

/// The body of `POST /api/orders`, checked field by field: what is malformed (not JSON, a missing field,
/// a wrong type) is a 400, a well-formed value that is not acceptable (quantity 0) a 422; either way
/// the error names the field.
public struct OrderRequest: Sendable, Equatable {
    public let referenceId: String
    public let sku: String
    public let faceValue: Decimal
    public let quantity: Int

    public static let maxQuantity = 100
    /// `referenceId` and `sku` hold at most this many bytes of UTF-8 (after NFC normalisation).
    public static let maxFieldBytes = 100

    public struct Problem: Error, Equatable, CustomStringConvertible {
        public enum Kind: Sendable { case malformed, invalid }
        public let kind: Kind
        public let field: String?
        public let message: String
        public var description: String { field.map { "\($0): \(message)" } ?? message }
    }

    public init(referenceId: String, sku: String, faceValue: Decimal, quantity: Int) {
        self.referenceId = referenceId
        self.sku = sku
        self.faceValue = faceValue
        self.quantity = quantity
    }

    public static func parse(_ body: [UInt8]) throws(Problem) -> OrderRequest {
        let json: JSONValue
        do { json = try JSONValue(parsing: body) } catch {
            throw Problem(kind: .malformed, field: nil, message: "the body is not valid JSON (\(error))")
        }
        guard case .object(let o) = json else { throw Problem(kind: .malformed, field: nil, message: "the body must be a JSON object") }
        let known: Set = ["referenceId", "sku", "faceValue", "quantity"]
        if let unknown = o.keys.sorted().first(where: { !known.contains($0) }) {
            throw Problem(kind: .malformed, field: unknown, message: "unknown field")
        }
        func string(_ key: String) throws(Problem) -> String {
            guard let v = o[key], v != .null else { throw Problem(kind: .malformed, field: key, message: "is required") }
            guard case .string(let s) = v else { throw Problem(kind: .malformed, field: key, message: "must be a string") }
            guard !s.utf8.contains(0) else { throw Problem(kind: .malformed, field: key, message: "must not contain NUL (\\u0000)") }
            // NFC: the same text typed with composed or decomposed accents is one reference (PostgreSQL compares bytes).
            let t = s.trimmingCharacters(in: .whitespaces).precomposedStringWithCanonicalMapping
            guard !t.isEmpty, t.utf8.count <= maxFieldBytes else {
                throw Problem(kind: .invalid, field: key, message: "must be 1 to \(maxFieldBytes) bytes of UTF-8")
            }
            return t
        }
        func number(_ key: String) throws(Problem) -> Double {
            guard let v = o[key], v != .null else { throw Problem(kind: .malformed, field: key, message: "is required") }
            guard case .number(let n) = v else { throw Problem(kind: .malformed, field: key, message: "must be a number") }
            return n
        }
        let referenceId = try string("referenceId"), sku = try string("sku")
        let face = try number("faceValue")
        guard face > 0, face < 1_000_000 else { throw Problem(kind: .invalid, field: "faceValue", message: "must be above 0 and below 1000000") }
        guard abs(face * 100 - (face * 100).rounded()) < 1e-6 else {
            throw Problem(kind: .invalid, field: "faceValue", message: "must have at most 2 decimals")
        }
        let q = try number("quantity")
        guard q == q.rounded(), q >= 1, q <= Double(maxQuantity) else {
            throw Problem(kind: .invalid, field: "quantity", message: "must be a whole number from 1 to \(maxQuantity)")
        }
        return OrderRequest(referenceId: referenceId, sku: sku, faceValue: Money.parse(String(format: "%.2f", face)) ?? Decimal(face),
                            quantity: Int(q))
    }
}
