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
    /// What the consumer's prepare step (work outside the transaction, e.g. a vendor call) returned for
    /// this delivery; nil without one.
    public internal(set) var prepared: JSONValue?
    /// Which delivery of the message this is: 1 the first time, n after n - 1 retries.
    public internal(set) var attempt = 1
    /// Deliveries in all before a transient failure is dead-lettered.
    public let maxAttempts: Int

    init(db: PostgresConnection, maxAttempts: Int = 1) {
        self.db = db
        self.maxAttempts = maxAttempts
    }

    /// Envelopes emitted in this transaction and not written yet: they go to the outbox together, in one
    /// statement just before COMMIT (a saga step emits one or two per delivery; a batch, dozens).
    private var unwritten: [Envelope] = []

    public func emit(_ envelope: Envelope) throws {
        guard db.inTransaction else { return try TransactionalOutbox.emit(envelope, on: db) }
        if unwritten.isEmpty { db.beforeCommit { try self.writeEmitted() } }
        unwritten.append(envelope)
    }

    /// Writes what was emitted so far (before a savepoint is released, so that rolling back to the next
    /// one cannot take it along).
    func writeEmitted() throws {
        guard !unwritten.isEmpty else { return }
        let envelopes = unwritten
        unwritten = []
        try TransactionalOutbox.emit(envelopes, on: db)
    }

    /// Forgets what was emitted since the last ``writeEmitted()`` (its delivery was rolled back).
    func discardEmitted() { unwritten = [] }

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
