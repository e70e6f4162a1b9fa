import ActorRuntime
import Bridges
import Foundation

/// Inventory: stock per product, held by reservations for 15 minutes (`inventory.reservationTTL` in
/// topology.json) unless confirmed. A reservation moves from `reserved` to confirmed, released or expired,
/// and from `expired` to confirmed only (a late confirm), so none is both confirmed and released; every
/// command is answered, and answered the same way again when replayed.
public enum Inventory {
    public static let reservationTTL: Duration = .seconds(15 * 60)

    public static var router: TopicRouter { router(reservationTTL: reservationTTL) }

    public static func router(reservationTTL ttl: Duration) -> TopicRouter {
        TopicRouter(.inventory, [
            SagaTopic.reserve: { envelope, context in try reserve(envelope, context.db, ttl: ttl, emit: context.emit) },
            SagaTopic.confirm: { envelope, context in try confirm(envelope, context.db, emit: context.emit) },
            SagaTopic.release: { envelope, context in try release(envelope, context.db, emit: context.emit) },
        ])
    }

    static func reserve(_ envelope: Envelope, _ db: PostgresConnection, ttl: Duration = reservationTTL, emit: (Envelope) throws -> Void) throws {
        let p = Payload(envelope)
        let order = try p.uuid("orderId"), product = try p.int("productId"), quantity = try p.int("quantity")
        // One statement (one round trip while the stock row is locked): a replay changes nothing; else the
        // stock gives the units if it has them, and the reservation is written only when it did.
        let id = UUID.v7()
        let outcome = try db.query("""
            WITH existing AS (SELECT id, status FROM inventory_reservations WHERE order_id = $2),
                 taken AS (UPDATE inventory_stock SET available = available - $4, updated_at = now()
                           WHERE product_id = $3 AND available >= $4 AND NOT EXISTS (SELECT 1 FROM existing) RETURNING 1),
                 made AS (INSERT INTO inventory_reservations (id, order_id, product_id, quantity, status, expires_at)
                          SELECT $1, $2, $3, $4, 'reserved', now() + make_interval(secs => $5) FROM taken RETURNING 1)
            SELECT (SELECT id FROM existing) AS existing_id, (SELECT status FROM existing) AS existing_status,
                   EXISTS (SELECT 1 FROM made) AS reserved
            """, [id, order, Int64(product), quantity, ttl.inSeconds]).rows[0]
        if let existing = try outcome.decode("existing_id", as: UUID?.self) {
            // Replayed: answer as the first time.
            let status = try outcome.decode("existing_status", as: String.self)
            let reply = status == "reserved" || status == "confirmed"
                ? Payload.reply(SagaTopic.reserved, to: envelope, from: .inventory, order: order, ["reservationId": .string(existing.lowercasedString)])
                : Payload.reply(SagaTopic.reserveFailed, to: envelope, from: .inventory, order: order, ["reason": .string("reservation \(status)")])
            try emit(reply)
            return
        }
        guard try outcome.decode("reserved", as: Bool.self) else {
            try emit(Payload.reply(SagaTopic.reserveFailed, to: envelope, from: .inventory, order: order, ["reason": .string("out of stock")]))
            return
        }
        try emit(Payload.reply(SagaTopic.reserved, to: envelope, from: .inventory, order: order, ["reservationId": .string(id.lowercasedString)]))
    }

    /// Turns the order's reservation into a stock movement (the units are sold).
    static func confirm(_ envelope: Envelope, _ db: PostgresConnection, emit: (Envelope) throws -> Void) throws {
        let order = try Payload(envelope).uuid("orderId")
        // One statement: the reservation leaves `reserved` and the movement is written; `status` is what the
        // statement found before (its own change is not visible to it), for a replay or a refusal.
        let outcome = try db.query("""
            WITH confirmed AS (UPDATE inventory_reservations SET status = 'confirmed', updated_at = now()
                               WHERE order_id = $1 AND status = 'reserved' RETURNING id, product_id, quantity),
                 moved AS (INSERT INTO inventory_movements (product_id, reservation_id, quantity, reason)
                           SELECT product_id, id, -quantity, 'sold' FROM confirmed RETURNING 1)
            SELECT EXISTS (SELECT 1 FROM moved) AS moved, (SELECT status FROM inventory_reservations WHERE order_id = $1) AS status
            """, [order]).rows[0]
        if try !outcome.decode("moved", as: Bool.self) {
            let status = try outcome.decode("status", as: String?.self)
            if status == "reserved" {
                // Changed by another transaction while this one waited for the row: look again.
                throw TransientError(SagaViolation("inventory.confirm for order \(order.lowercasedString): reservation changed meanwhile"))
            }
            if status == "expired" { try confirmExpired(order, db) }
            else if status != "confirmed" {
                // Released (the order was compensated) or never made: confirming contradicts the saga.
                throw SagaViolation("inventory.confirm for order \(order.lowercasedString): reservation is \(status ?? "missing")")
            }
        }
        try emit(Payload.reply(SagaTopic.confirmed, to: envelope, from: .inventory, order: order))
    }

    /// A confirm that comes after the reservation expired (its units went back to stock): the vendor
    /// delivered, so the sale stands. The units are taken again and the sale recorded (`sold`); if the stock
    /// no longer has them, the sale is recorded as a shortage (`sold-short`, stock unchanged) for an operator.
    static func confirmExpired(_ order: UUID, _ db: PostgresConnection) throws {
        try db.query("""
            WITH late AS (UPDATE inventory_reservations SET status = 'confirmed', updated_at = now()
                          WHERE order_id = $1 AND status = 'expired' RETURNING id, product_id, quantity),
                 taken AS (UPDATE inventory_stock s SET available = s.available - late.quantity, updated_at = now()
                           FROM late WHERE s.product_id = late.product_id AND s.available >= late.quantity RETURNING 1)
            INSERT INTO inventory_movements (product_id, reservation_id, quantity, reason)
            SELECT product_id, id, -quantity, CASE WHEN EXISTS (SELECT 1 FROM taken) THEN 'sold' ELSE 'sold-short' END FROM late
            """, [order])
    }

    /// Gives the order's reserved units back to stock (a compensation); answered even if nothing was held.
    static func release(_ envelope: Envelope, _ db: PostgresConnection, emit: (Envelope) throws -> Void) throws {
        let order = try Payload(envelope).uuid("orderId")
        if let r = try leaveReserved(order, for: "released", db) {
            try db.query("UPDATE inventory_stock SET available = available + $2, updated_at = now() WHERE product_id = $1",
                         [try r.decode("product_id", as: Int64.self), try r.decode("quantity", as: Int.self)])
        }
        try emit(Payload.reply(SagaTopic.released, to: envelope, from: .inventory, order: order))
    }
}

extension Inventory {
    /// Moves the order's reservation out of `reserved` (the only state a reservation leaves), to `status`;
    /// nil when it is not reserved (already settled, expired, or never made).
    static func leaveReserved(_ order: UUID, for status: String, _ db: PostgresConnection) throws -> PostgresRow? {
        try db.query("""
            UPDATE inventory_reservations SET status = $2, updated_at = now()
            WHERE order_id = $1 AND status = 'reserved' RETURNING id, product_id, quantity
            """, [order, status]).rows.first
    }
}

/// A step that contradicts the saga's state (e.g. confirming a released reservation): permanent, so it is
/// dead-lettered with the reason for an operator rather than retried.
struct SagaViolation: ClassifiedError, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
    var disposition: FailureDisposition { .permanent }
}
