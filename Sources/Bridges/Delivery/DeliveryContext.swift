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
    /// Every envelope this transaction handles (the consumer's batch), so a handler can look up what all of
    /// them need in one query (see ``memo(_:_:)``) instead of one per delivery.
    public let batch: [Envelope]

    init(db: PostgresConnection, maxAttempts: Int = 1, batch: [Envelope] = []) {
        self.db = db
        self.maxAttempts = maxAttempts
        self.batch = batch
    }

    /// Envelopes emitted in this transaction and not written yet: they go to the outbox together, in one
    /// statement just before COMMIT (a saga step emits one or two per delivery; a batch, dozens).
    private var unwritten: [Envelope] = []
    /// Rows handlers gathered for one statement at the end (``gather(_:write:)``), by key and row type, in
    /// the order first gathered (the order they are written in).
    private var gathered: [(key: String, rows: any PendingRows)] = []
    private var memos: [String: Any] = [:]
    private var writesAtCommit = false

    public func emit(_ envelope: Envelope) throws {
        guard db.inTransaction else { return try TransactionalOutbox.emit(envelope, on: db) }
        writePendingAtCommit()
        unwritten.append(envelope)
    }

    /// Rows of one kind that the handlers of this transaction's deliveries add to, written by `write` in
    /// one statement just before COMMIT, as ``emit(_:)`` does for the outbox: a batch of 64 deliveries
    /// then makes one round trip instead of 64. A delivery rolled back to its savepoint takes its rows
    /// along. Outside a transaction `write` runs at each append. The first `write` given for a key (and
    /// row type) is the one used; kinds are written in the order they were first gathered.
    public func gather<Row>(_ key: String, write: @escaping ([Row], PostgresConnection) throws -> Void) -> Gathered<Row> {
        let id = "\(key) \(ObjectIdentifier(Row.self))"
        if let rows = gathered.first(where: { $0.key == id })?.rows as? Gathered<Row> { return rows }
        let rows = Gathered<Row>(db: db, write: write)
        gathered.append((id, rows))
        if db.inTransaction { writePendingAtCommit() }
        return rows
    }

    /// What `make` returns, made once per transaction for `key`: for a lookup made for the whole
    /// ``batch`` at its first delivery and read by the others. Forgotten when a delivery is rolled back
    /// to its savepoint (what it read may have been its own writes).
    public func memo<T>(_ key: String, _ make: () throws -> T) throws -> T {
        if let value = memos[key] as? T { return value }
        let value = try make()
        memos[key] = value
        return value
    }

    private func writePendingAtCommit() {
        guard !writesAtCommit else { return }
        writesAtCommit = true
        db.beforeCommit {
            self.writesAtCommit = false          // a later transaction on this connection registers again
            try self.writePending()
        }
    }

    /// Writes what was emitted and gathered so far (before a savepoint is released, so that rolling back to
    /// the next one cannot take it along).
    func writePending() throws {
        for (_, rows) in gathered { try rows.writePending() }
        guard !unwritten.isEmpty else { return }
        let envelopes = unwritten
        unwritten = []
        try TransactionalOutbox.emit(envelopes, on: db)
    }

    /// Forgets what was emitted and gathered since the last ``writePending()`` (its delivery was rolled back).
    func discardPending() {
        unwritten = []
        memos = [:]
        for (_, rows) in gathered { rows.discard() }
    }

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

/// Rows gathered from a transaction's deliveries for one statement at its end: see ``DeliveryContext/gather(_:write:)``.
public final class Gathered<Row>: PendingRows {
    private var rows: [Row] = []
    private let db: PostgresConnection
    private let write: ([Row], PostgresConnection) throws -> Void

    init(db: PostgresConnection, write: @escaping ([Row], PostgresConnection) throws -> Void) {
        self.db = db
        self.write = write
    }

    public func append(_ row: Row) throws {
        guard db.inTransaction else { return try write([row], db) }
        rows.append(row)
    }

    func writePending() throws {
        guard !rows.isEmpty else { return }
        let pending = rows
        rows = []
        try write(pending, db)
    }

    func discard() { rows = [] }
}

/// What ``DeliveryContext`` keeps of each ``Gathered``, whatever its row type.
protocol PendingRows: AnyObject {
    func writePending() throws
    func discard()
}
