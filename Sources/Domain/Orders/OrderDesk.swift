import ActorRuntime
import Bridges
import Foundation

/// Takes partners' orders: prices them, writes them with status `Processing` and their `order.created`
/// envelope in one transaction (the outbox), idempotently on (partner, referenceId): the same request
/// again returns the same order, and of concurrent duplicates exactly one creates it.
public struct OrderDesk: Sendable {
    public enum Refusal: Error, Equatable, CustomStringConvertible {
        /// A well-formed value that cannot be ordered (unknown sku, face value out of range): 422.
        case invalid(field: String, message: String)
        /// The referenceId was used for a different order: 409.
        case conflict(String)

        public var description: String {
            switch self {
            case .invalid(let field, let message): "\(field): \(message)"
            case .conflict(let message): message
            }
        }
    }

    public let pool: PostgresPool

    public init(pool: PostgresPool) { self.pool = pool }

    /// Accepts `request` for `partner`; returns the order and whether this call created it.
    public func accept(_ request: OrderRequest, partner: UUID, correlationId: String) async throws -> (order: Order, created: Bool) {
        try await pool.transaction { db in
            if let existing = try Self.find(partner: partner, referenceId: request.referenceId, on: db) {
                guard existing.matches(request) else { throw Refusal.conflict("referenceId '\(request.referenceId)' was used for a different order") }
                return (existing, false)
            }
            let products = try db.query("""
                SELECT p.id, p.currency, p.min_face_value, p.max_face_value,
                       COALESCE(pp.price_percent, pa.default_price_percent) AS price_percent
                FROM products p JOIN partners pa ON pa.id = $2
                LEFT JOIN partner_pricing pp ON pp.partner_id = pa.id AND pp.product_id = p.id
                WHERE p.sku = $1
                """, [request.sku, partner]).rows
            guard let product = products.first else { throw Refusal.invalid(field: "sku", message: "unknown product '\(request.sku)'") }
            let minimum: Decimal = try product.decode("min_face_value"), maximum: Decimal = try product.decode("max_face_value")
            guard request.faceValue >= minimum, request.faceValue <= maximum else {
                throw Refusal.invalid(field: "faceValue", message: "must be from \(Money.format(minimum)) to \(Money.format(maximum)) for \(request.sku)")
            }
            let unitPrice = Money.round(request.faceValue * (try product.decode("price_percent", as: Decimal.self)) / 100)
            let total = unitPrice * Decimal(request.quantity)
            let id = UUID.v7(), productID: Int64 = try product.decode("id"), currency: String = try product.decode("currency")
            let inserted = try db.query("""
                INSERT INTO orders (id, partner_id, reference_id, product_id, sku, face_value, quantity, unit_price, total, currency,
                                    status, step, correlation_id)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'Processing', 'created', $11)
                ON CONFLICT (partner_id, reference_id) DO NOTHING RETURNING \(Order.columns)
                """, [id, partner, request.referenceId, productID, request.sku, request.faceValue, request.quantity, unitPrice, total,
                      currency, correlationId]).rows.first
            guard let inserted else {
                // A concurrent duplicate committed first (the insert waited for it): its order is the answer.
                guard let winner = try Self.find(partner: partner, referenceId: request.referenceId, on: db) else {
                    throw Refusal.conflict("referenceId '\(request.referenceId)' is being created concurrently; retry")
                }
                guard winner.matches(request) else { throw Refusal.conflict("referenceId '\(request.referenceId)' was used for a different order") }
                return (winner, false)
            }
            let order = try Order(row: inserted)
            try TransactionalOutbox.emit(Envelope(topic: "order.created", producerId: "order-queue", correlationId: correlationId, payload: .object([
                "orderId": .string(id.lowercasedString), "partnerId": .string(partner.lowercasedString),
                "productId": .number(Double(productID)), "sku": .string(request.sku), "faceValue": Money.json(request.faceValue),
                "quantity": .number(Double(request.quantity)), "total": Money.json(total), "currency": .string(currency),
            ])), on: db)
            return (order, true)
        }
    }

    /// Order `id` if it belongs to `partner` (another partner's order is as good as missing).
    public func order(_ id: UUID, partner: UUID) async throws -> Order? {
        try await pool.withConnection { db in
            try db.query("SELECT \(Order.columns) FROM orders WHERE id = $1 AND partner_id = $2", [id, partner]).rows.first.map(Order.init(row:))
        }
    }

    static func find(partner: UUID, referenceId: String, on db: PostgresConnection) throws -> Order? {
        try db.query("SELECT \(Order.columns) FROM orders WHERE partner_id = $1 AND reference_id = $2", [partner, referenceId])
            .rows.first.map(Order.init(row:))
    }
}
