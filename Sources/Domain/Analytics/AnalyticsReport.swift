import ActorRuntime
import Bridges
import Foundation

/// The aggregates Analytics serves over HTTP (admin), for a time range: orders created, completed and
/// failed per partner per hour, conversion (completed / created), top products, notification delivery
/// success rate, tracked events per type per day. All but the delivery rate read ``Analytics``' rollups
/// through their primary key, so the cost follows the range's hours and partners, not the events stored.
public enum AnalyticsReport {
    public static let topProductsLimit = 10

    public static func json(from: Date, to: Date, on db: PostgresConnection) throws -> JSONValue {
        let orders = try db.query("""
            SELECT bucket, partner,
                   sum(count) FILTER (WHERE key = 'order.created') AS created,
                   sum(count) FILTER (WHERE key = 'order.completed') AS completed,
                   sum(count) FILTER (WHERE key = 'order.failed') AS failed
            FROM analytics_rollups
            WHERE metric = 'event' AND bucket >= date_trunc('hour', $1::timestamptz, 'UTC') AND bucket < $2
              AND key IN ('order.created', 'order.completed', 'order.failed')
            GROUP BY bucket, partner ORDER BY bucket, partner
            """, [from, to]).rows
        var created = 0, completed = 0, failed = 0
        let perHour: [JSONValue] = try orders.map { row in
            let c = try row.decode("created", as: Int?.self) ?? 0, d = try row.decode("completed", as: Int?.self) ?? 0
            let f = try row.decode("failed", as: Int?.self) ?? 0
            (created, completed, failed) = (created + c, completed + d, failed + f)
            return .object(["hour": .string(Timestamp.format(try row.decode("bucket", as: Date.self))),
                            "partnerId": .string(try row.decode("partner")),
                            "created": .number(Double(c)), "completed": .number(Double(d)), "failed": .number(Double(f))])
        }
        let products: [JSONValue] = try db.query("""
            SELECT key, sum(count) AS completed FROM analytics_rollups
            WHERE metric = 'product' AND bucket >= date_trunc('hour', $1::timestamptz, 'UTC') AND bucket < $2
            GROUP BY key ORDER BY completed DESC, key LIMIT \(topProductsLimit)
            """, [from, to]).rows.map { row in
            .object(["productId": .number(Double(try row.decode("key", as: String.self)) ?? 0),
                     "completedOrders": .number(Double(try row.decode("completed", as: Int.self)))])
        }
        let tracked: [JSONValue] = try db.query("""
            SELECT bucket, key, count FROM analytics_rollups
            WHERE metric = 'tracked' AND bucket >= date_trunc('day', $1::timestamptz, 'UTC') AND bucket < $2 ORDER BY bucket, key
            """, [from, to]).rows.map { row in
            .object(["day": .string(String(Timestamp.format(try row.decode("bucket", as: Date.self)).prefix(10))),
                     "event": .string(try row.decode("key")), "count": .number(Double(try row.decode("count", as: Int.self)))])
        }
        return .object([
            "from": .string(Timestamp.format(from)), "to": .string(Timestamp.format(to)),
            "orders": .object(["created": .number(Double(created)), "completed": .number(Double(completed)), "failed": .number(Double(failed)),
                               "conversion": created == 0 ? .null : .number(Double(completed) / Double(created)),
                               "perPartnerPerHour": .array(perHour)]),
            "topProducts": .array(products),
            "notifications": try deliveryRate(from: from, to: to, on: db),
            "trackedEventsPerDay": .array(tracked),
        ])
    }

    /// Delivered / (delivered + failed) of Notification's deliveries that ended in the range; null when none
    /// did (or Notification's table does not exist yet).
    static func deliveryRate(from: Date, to: Date, on db: PostgresConnection) throws -> JSONValue {
        let exists = try db.query("SELECT to_regclass('notification_deliveries') IS NOT NULL AS present").rows[0]
        guard try exists.decode("present", as: Bool.self) else { return .object(["delivered": .number(0), "failed": .number(0), "successRate": .null]) }
        let row = try db.query("""
            SELECT count(*) FILTER (WHERE status = 'delivered') AS delivered, count(*) FILTER (WHERE status = 'failed') AS failed
            FROM notification_deliveries WHERE ended_at >= $1 AND ended_at < $2
            """, [from, to]).rows[0]
        let delivered = try row.decode("delivered", as: Int.self), failed = try row.decode("failed", as: Int.self)
        return .object(["delivered": .number(Double(delivered)), "failed": .number(Double(failed)),
                        "successRate": delivered + failed == 0 ? .null : .number(Double(delivered) / Double(delivered + failed))])
    }
}
