import ActorRuntime
import Bridges
import Foundation

/// An order as partners see it (`POST /api/orders`, `GET /api/orders/{id}`).
public struct Order: Sendable, Equatable {
    public enum Status: String, Sendable { case processing = "Processing", completed = "Completed", failed = "Failed" }

    public let id: UUID
    public let partnerID: UUID
    public let referenceId: String
    public let productID: Int64
    public let sku: String
    public let faceValue: Decimal
    public let quantity: Int
    public let unitPrice: Decimal
    public let total: Decimal
    public let currency: String
    public let status: Status
    public let failureReason: String?
    public let cards: JSONValue?
    public let createdAt: Date

    /// The columns ``init(row:)`` reads.
    static let columns = """
        id, partner_id, reference_id, product_id, sku, face_value, quantity, unit_price, total, currency, status,
        failure_reason, cards, created_at
        """

    init(row: PostgresRow) throws {
        id = try row.decode("id")
        partnerID = try row.decode("partner_id")
        referenceId = try row.decode("reference_id")
        productID = try row.decode("product_id")
        sku = try row.decode("sku")
        faceValue = try row.decode("face_value")
        quantity = try row.decode("quantity")
        unitPrice = try row.decode("unit_price")
        total = try row.decode("total")
        currency = try row.decode("currency")
        let text: String = try row.decode("status")
        guard let status = Status(rawValue: text) else { throw PostgresError(.decoding, "orders.status: unknown status '\(text)'", column: "status") }
        self.status = status
        failureReason = try row.decode("failure_reason")
        cards = try row.decode("cards")
        createdAt = try row.decode("created_at")
    }

    /// Whether `request` asks for this very order (a retry), not a different one under the same reference.
    func matches(_ request: OrderRequest) -> Bool {
        sku == request.sku && faceValue == request.faceValue && quantity == request.quantity
    }

    /// The JSON partners get; the cards opened with `vault` (a card that cannot be opened is an error, not
    /// a silent gap).
    public func json(opening vault: CardVault) throws -> JSONValue {
        var o: [String: JSONValue] = [
            "id": .string(id.lowercasedString), "referenceId": .string(referenceId), "status": .string(status.rawValue),
            "sku": .string(sku), "faceValue": Money.json(faceValue), "quantity": .number(Double(quantity)),
            "unitPrice": Money.json(unitPrice), "total": Money.json(total), "currency": .string(currency),
            "createdAt": .string(Timestamp.format(createdAt)),
        ]
        if let failureReason { o["failureReason"] = .string(failureReason) }
        if let cards { o["cards"] = try vault.open(cards, order: id) }
        return .object(o)
    }
}
