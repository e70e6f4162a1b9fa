import ActorRuntime
import Bridges
import Foundation

/// The saga's recurring jobs.
public enum SagaJobs {
    /// Every minute (seed behaviour): orders of the last 24 h with no vendor order id, not terminal, and
    /// not moved for a minute are re-driven: an `order.created` again, whose handler re-sends the command
    /// of the step the order waits in.
    public static let backfill = RecurringJob(name: "order-backfill", period: .seconds(60)) { db in
        try redrive(db, from: "now() - interval '24 hours'", to: "now()", stuckFor: 60)
    }

    /// Re-drives the orders created between `from` and `to` (SQL expressions or bound $1/$2) that have no
    /// vendor order id, are not terminal and did not move for `stuckFor` seconds. Returns how many.
    static func redrive(_ db: PostgresConnection, from: String, to: String, stuckFor: Double, _ parameters: [any PostgresEncodable] = []) throws -> Int {
        let n = parameters.count
        let rows = try db.query("""
            SELECT id, correlation_id FROM orders
            WHERE created_at >= \(from) AND created_at < \(to) AND vendor_order_id IS NULL AND status = 'Processing'
              AND updated_at < now() - make_interval(secs => $\(n + 1))
            ORDER BY created_at LIMIT 1000
            """, parameters + [stuckFor]).rows
        for row in rows {
            let id: UUID = try row.decode("id")
            try TransactionalOutbox.emit(Envelope(topic: SagaTopic.orderCreated, producerId: Component.orderQueue.rawValue,
                                                  correlationId: try row.decode("correlation_id"),
                                                  payload: .object(["orderId": .string(id.lowercasedString), "redrive": .bool(true)])), on: db)
        }
        return rows.count
    }

    /// Admin re-drive (`POST /api/orderqueue/queue-by-date-range`): the same, for a date range, at once.
    public static func redrive(from: Date, to: Date, on db: PostgresConnection) throws -> Int {
        try redrive(db, from: "$1", to: "$2", stuckFor: 0, [from, to])
    }

    /// Every minute: reservations past their 15 minutes that were neither confirmed nor released expire,
    /// and their units go back to stock.
    public static let expireReservations = RecurringJob(name: "reservation-expiry", period: .seconds(60)) { db in
        let rows = try db.query("""
            UPDATE inventory_reservations SET status = 'expired', updated_at = now()
            WHERE status = 'reserved' AND expires_at < now() RETURNING product_id, quantity
            """).rows
        for r in rows {
            try db.query("UPDATE inventory_stock SET available = available + $2, updated_at = now() WHERE product_id = $1",
                         [try r.decode("product_id", as: Int64.self), try r.decode("quantity", as: Int.self)])
        }
        return rows.count
    }
}
