import ActorRuntime
import Bridges
import Foundation

/// Analytics: every domain event (its queue is bound to `#`), the events tracked over
/// `POST /v1/analytics/track` and the edge's request log, kept for the aggregates of ``AnalyticsReport``.
///
/// A consumed domain event is written in its delivery's transaction (the consumer's batch of up to 64 is
/// the flush), so it is acked only after it is stored and never lost; the inbox and the envelope id's key
/// keep a redelivery from counting twice. Tracked events and request logs go through the edge's
/// ``AnalyticsBuffer`` instead: the request path never waits for PostgreSQL.
public enum Analytics {
    /// Consumes every topic.
    public static var router: TopicRouter {
        TopicRouter(.analytics, [TopicRouter.everyTopic: { envelope, context in try record(envelope, on: context.db) }])
    }

    /// Stores `envelope` once and counts it in the hourly rollups (per topic and partner; completed orders
    /// per product too).
    static func record(_ envelope: Envelope, on db: PostgresConnection) throws {
        let partner: UUID? = if case .string(let text)? = envelope.payload["partnerId"] { UUID(text: text) } else { nil }
        let stored = try db.query("""
            INSERT INTO analytics_domain_events (envelope_id, topic, producer, partner_id, occurred_at, payload)
            VALUES ($1, $2, $3, $4, $5, $6::jsonb) ON CONFLICT (envelope_id) DO NOTHING
            """, [envelope.id, envelope.topic, envelope.producerId, partner, envelope.timestamp, envelope.payload]).affectedRows
        guard stored == 1 else { return }
        let partnerKey = partner?.lowercasedString ?? ""
        try count("event", at: envelope.timestamp, partner: partnerKey, key: envelope.topic, on: db)
        if envelope.topic == SagaTopic.orderCompleted, case .number(let number)? = envelope.payload["productId"], let product = Int64(exactly: number) {
            try count("product", at: envelope.timestamp, partner: partnerKey, key: String(product), on: db)
        }
    }

    private static func count(_ metric: String, at time: Date, partner: String, key: String, on db: PostgresConnection) throws {
        try db.query("""
            INSERT INTO analytics_rollups (metric, bucket, partner, key, count) VALUES ($1, date_trunc('hour', $2::timestamptz, 'UTC'), $3, $4, 1)
            ON CONFLICT (metric, bucket, partner, key) DO UPDATE SET count = analytics_rollups.count + 1
            """, [metric, time, partner, key])
    }
}
