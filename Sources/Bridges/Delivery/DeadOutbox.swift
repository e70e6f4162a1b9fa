import Foundation

/// One outbox row that could never be published, as operators see it.
public struct DeadOutboxRow: Sendable, Equatable {
    /// The envelope id.
    public var id: String
    public var topic: String
    /// Why it could not be published.
    public var reason: String
    /// Since it was moved here.
    public var age: Duration
}

/// `troupe_outbox_dead` for operators (`troupe dlq list|replay|purge outbox`): the outbox rows a relay
/// could never publish, kept with the reason. Replaying moves rows back to the outbox (after the operator
/// mended them, say), where the relay takes them again in order.
public enum DeadOutbox {
    /// Up to `limit` rows, oldest first.
    public static func list(pool: PostgresPool, limit: Int = 1000) async throws -> [DeadOutboxRow] {
        try await pool.withConnection { db in
            try db.query("""
                SELECT id::text AS id, topic, reason, extract(epoch FROM now() - dead_at)::float8 AS age
                FROM troupe_outbox_dead ORDER BY seq LIMIT $1
                """, [limit]).rows.map { row in
                DeadOutboxRow(id: try row.decode("id"), topic: try row.decode("topic"), reason: try row.decode("reason"),
                              age: .milliseconds(Int64(max(0, try row.decode("age", as: Double.self)) * 1000)))
            }
        }
    }

    /// Moves the row of envelope `id` (every row when nil) back to the outbox; returns how many.
    @discardableResult
    public static func replay(pool: PostgresPool, id: String?) async throws -> Int {
        try await pool.transaction { db in
            try db.query("""
                WITH moved AS (DELETE FROM troupe_outbox_dead WHERE $1::text IS NULL OR id::text = lower($1::text) RETURNING seq, id, topic, envelope)
                INSERT INTO troupe_outbox (id, topic, envelope) SELECT id, topic, envelope FROM moved ORDER BY seq
                """, [id]).affectedRows
        }
    }

    /// Deletes rows: all, or those moved here longer than `olderThan` ago. Returns how many.
    @discardableResult
    public static func purge(pool: PostgresPool, olderThan: Duration?) async throws -> Int {
        try await pool.transaction { db in
            try db.query("DELETE FROM troupe_outbox_dead WHERE dead_at < now() - make_interval(secs => $1)",
                         [olderThan?.inSeconds ?? -1]).affectedRows
        }
    }
}
