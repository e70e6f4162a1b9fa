import ActorRuntime

/// Writes envelopes to `troupe_outbox` inside the caller's transaction, so they are published (by an
/// ``OutboxRelay``) if and only if that transaction commits. Handlers reach it through
/// ``DeliveryContext/emit(_:)``; request handlers (the HTTP edge) call it directly.
public enum TransactionalOutbox {
    public static func emit(_ envelope: Envelope, on db: PostgresConnection) throws {
        try db.query("INSERT INTO troupe_outbox (id, topic, envelope) VALUES ($1, $2, $3)",
                     [envelope.id, envelope.topic, String(decoding: envelope.jsonBytes(), as: UTF8.self)])
        db.afterCommit(OutboxBell.ring)
    }
}
