import ActorRuntime

/// Writes envelopes to `troupe_outbox` inside the caller's transaction, so they are published (by an
/// ``OutboxRelay``) if and only if that transaction commits. Handlers reach it through
/// ``DeliveryContext/emit(_:)``; request handlers (the HTTP edge) call it directly.
public enum TransactionalOutbox {
    public static func emit(_ envelope: Envelope, on db: PostgresConnection) throws {
        try emit([envelope], on: db)
    }

    /// Writes `envelopes` with one statement.
    public static func emit(_ envelopes: [Envelope], on db: PostgresConnection) throws {
        guard !envelopes.isEmpty else { return }
        if envelopes.count == 1, let envelope = envelopes.first {
            try db.query("INSERT INTO troupe_outbox (id, topic, envelope) VALUES ($1, $2, $3)",
                         [envelope.id, envelope.topic, String(decoding: envelope.jsonBytes(), as: UTF8.self)])
        } else {
            try db.query(insertSQL(firstParameter: 1), columns(envelopes))
        }
        db.afterCommit(OutboxBell.ring)
    }

    /// Emits `envelopes` from within a statement of the caller's (a hot path that writes everything in one round
    /// trip): the SQL of a data-modifying `WITH` item that inserts them, with its three parameters numbered from
    /// `first`, and the values of those parameters. The caller runs the statement in its transaction.
    public static func insertion(_ envelopes: [Envelope], firstParameter first: Int, on db: PostgresConnection)
        -> (sql: String, parameters: [any PostgresEncodable]) {
        if !envelopes.isEmpty { db.afterCommit(OutboxBell.ring) }
        return (insertSQL(firstParameter: first), columns(envelopes))
    }

    /// Inserts the rows of three arrays (ids, topics, envelopes' JSON), the parameters numbered from `first`.
    private static func insertSQL(firstParameter first: Int) -> String {
        "INSERT INTO troupe_outbox (id, topic, envelope) SELECT * FROM unnest($\(first)::uuid[], $\(first + 1)::text[], $\(first + 2)::text[])"
    }

    /// The three arrays of ``insertSQL(firstParameter:)``.
    private static func columns(_ envelopes: [Envelope]) -> [any PostgresEncodable] {
        [PostgresArray(envelopes, \.id), PostgresArray(envelopes, \.topic), PostgresArray(envelopes) { String(decoding: $0.jsonBytes(), as: UTF8.self) }]
    }
}
