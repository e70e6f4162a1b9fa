import ActorRuntime
import Foundation

/// What a component's handler works with: the PostgreSQL transaction its state changes run in, and
/// the outbox for the envelopes it emits. Both commit together with the inbox record.
///
///     consumer = EnvelopeConsumer(component: "inventory", ...) { envelope, context in
///         let sku = try envelope.payload["sku"]...
///         try context.db.query("UPDATE stock SET reserved = reserved + 1 WHERE sku = $1", [sku])
///         try context.emit(Envelope(topic: "inventory.reserved", producerId: "inventory", correlationId: envelope.correlationId, payload: ...))
///     }
public final class DeliveryContext: Outbox, Inbox {
    /// The transaction: use it for every state change of this delivery.
    public let db: PostgresConnection

    init(db: PostgresConnection) { self.db = db }

    public func emit(_ envelope: Envelope) throws { try TransactionalOutbox.emit(envelope, on: db) }

    /// The batch form of ``recordFirstDelivery(of:component:)``: one statement for many envelopes.
    /// - Returns: the ids (lowercase) seen for the first time.
    public func recordFirstDeliveries(of envelopeIDs: [String], component: String) throws -> Set<String> {
        let rows = try db.query("""
            INSERT INTO troupe_inbox (component, envelope_id) SELECT $1, unnest($2::uuid[])
            ON CONFLICT DO NOTHING RETURNING envelope_id
            """, [component, "{" + envelopeIDs.joined(separator: ",") + "}"]).rows
        return Set(try rows.map { try $0.decode("envelope_id", as: String.self).lowercased() })
    }

    public func recordFirstDelivery(of envelopeID: String, component: String) throws -> Bool {
        try db.query("INSERT INTO troupe_inbox (component, envelope_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                     [component, envelopeID]).affectedRows == 1
    }
}
