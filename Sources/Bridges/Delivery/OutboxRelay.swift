import ActorRuntime
import Foundation
import Logging
import Synchronization

/// Publishes what transactions wrote to `troupe_outbox`, after they committed. One transaction per
/// batch deletes the oldest rows (`FOR UPDATE SKIP LOCKED`, so relays on several nodes share the work),
/// publishes them with confirms and commits only once the broker confirmed them all: one write per
/// envelope, and a failed publish rolls back, so its rows stay for the next attempt. It wakes when a
/// transaction of this process that emitted commits (``OutboxBell``), on `NOTIFY troupe_outbox` (for
/// writers in other processes), and also polls, so an envelope committed while no relay ran (a crash
/// between commit and publish) is published when one runs again. Delivery is at least once: a relay
/// that dies after the confirms and before its COMMIT leaves the rows, they are published again, and
/// consumers deduplicate.
///
/// A row that can never be published (``AMQPPublishRejection``) moves to `troupe_outbox_dead` with the
/// reason, in the same transaction, while the rest of its batch is published: see ``DeadOutbox``.
public final class OutboxRelay: Sendable {
    private let pool: PostgresPool
    private let publisher: AMQPPublisher
    private let exchange: String
    private let batchSize: Int
    private let logger: Logger
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation
    private let listener: PostgresListener
    private let bell: UUID
    private let publishedCount = Atomic<Int>(0)
    private let cursor = Mutex(OutboxCursor())

    /// - Parameters:
    ///   - databaseURL: for the LISTEN connection (the pool's connections serve the queries).
    ///   - pollInterval: how often it looks even without a notification.
    public init(pool: PostgresPool, databaseURL: String, publisher: AMQPPublisher, exchange: String, batchSize: Int = 500,
                pollInterval: Duration = .seconds(1), logger: Logger = Logger(label: "troupe.outbox")) {
        self.pool = pool
        self.publisher = publisher
        self.exchange = exchange
        self.batchSize = batchSize
        self.logger = logger
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        wakeups = stream
        wake = continuation
        listener = PostgresListener(url: databaseURL, channel: "troupe_outbox", interval: pollInterval, logger: logger) { continuation.yield() }
        bell = OutboxBell.listen { continuation.yield() }
    }

    /// Envelopes this relay published (confirmed, and their rows deleted).
    public var published: Int { publishedCount.load(ordering: .relaxed) }

    /// Relays until ``stop()``; vacuums the outbox after every ``vacuumEvery`` envelopes it deleted.
    public func run() async {
        var sinceVacuum = 0
        for await _ in wakeups {
            do {
                var n = 0
                repeat {
                    n = try await relayBatch()
                    sinceVacuum += n
                } while n == batchSize
                if sinceVacuum >= Self.vacuumEvery {
                    sinceVacuum = 0
                    try await vacuum()
                }
            } catch {
                logger.warning("outbox relay failed; retrying on the next wake-up", metadata: ["reason": "\(error)"])
            }
        }
    }

    /// How many deleted rows make a relay vacuum the outbox. A batch walks the primary key past the
    /// entries of rows deleted since the last vacuum (all of them, in the periodic full scans of
    /// ``OutboxCursor``); autovacuum comes at most once a minute (`autovacuum_naptime`), by when a busy
    /// system has left a hundred thousand of them there.
    public static let vacuumEvery = 20_000

    /// `VACUUM (SKIP_LOCKED)` of the outbox: skipped when another relay is vacuuming it already.
    func vacuum() async throws {
        try await pool.withConnection { db in try db.execute(script: "VACUUM (SKIP_LOCKED) troupe_outbox") }
    }

    /// Stops after the batch in progress.
    public func stop() {
        OutboxBell.stopListening(bell)
        listener.stop()
        wake.finish()
    }

    /// Publishes everything committed and not yet published, then returns: a node's last act before it
    /// exits, so what its handlers emitted does not wait for the next relay to run.
    /// - Returns: how many envelopes it published.
    @discardableResult
    public func drain() async throws -> Int {
        var total = 0
        while true {
            let n = try await relayBatch(fromTheStart: true)
            total += n
            if n < batchSize { return total }
        }
    }

    /// Takes, publishes and deletes one batch (moving a row that can never be published to
    /// `troupe_outbox_dead`); returns how many rows it took.
    /// - Parameter fromTheStart: look from the oldest row, not from the ``OutboxCursor``'s floor.
    func relayBatch(fromTheStart: Bool = false) async throws -> Int {
        let limit = batchSize, exchange = exchange, publisher = publisher, logger = logger
        let after = fromTheStart ? 0 : cursor.withLock { $0.start(at: .now) }
        let (count, highest, dead) = try await pool.withConnection { db in
            try db.transaction { db in
                // A queue table's statistics mislead the planner: sampled nearly empty, the table has pages
                // spread out by rows since deleted, and a sequential scan (twice, for the join) read all of
                // them: 9.8 ms for a batch of 150 where walking the primary key takes 1.1 ms (EXPLAIN ANALYZE).
                // The rows found are deleted by their ctid (stable: they are locked): 0.6 ms instead of 0.9
                // for a second walk of the index per row.
                try db.query("SET LOCAL enable_seqscan = off")
                let rows = try db.query("""
                    DELETE FROM troupe_outbox
                    WHERE ctid = ANY(ARRAY(SELECT ctid FROM troupe_outbox WHERE seq > $2 ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED))
                    RETURNING seq, id, topic, envelope
                    """, [limit, after]).rows
                guard !rows.isEmpty else { return (0, Int64(0), 0) }
                var taken: [(seq: Int64, id: UUID, topic: String, text: String)] = []
                taken.reserveCapacity(rows.count)
                for row in rows { taken.append((try row.decode("seq"), try row.decode("id"), try row.decode("topic"), try row.decode("envelope"))) }
                taken.sort { $0.seq < $1.seq }
                let messages = taken.map { row in
                    let body = Array(row.text.utf8)
                    // A row that is not a valid envelope (written by hand, or by a newer version) goes out as
                    // it is, under its topic: the consumer dead-letters it with the reason, and it does not
                    // hold up every batch behind it.
                    guard let envelope = try? Envelope.decode(body) else {
                        return (exchange: exchange, routingKey: row.topic, message: AMQPMessage(body: body, type: row.topic, deliveryMode: 2))
                    }
                    return (exchange: exchange, routingKey: envelope.topic, message: Self.message(envelope, body: body))
                }
                // The rows stay locked, deleted but not committed, while the broker confirms: this
                // thread is a pool connection's own, so waiting here keeps the cooperative pool free.
                do {
                    try BlockingWait.run { try await publisher.publish(messages) }
                } catch let rejection as AMQPPublishRejection {
                    // The others are confirmed; these never will be: keep them, with why, instead of retrying.
                    let dead = rejection.reasons.sorted { $0.key < $1.key }.map { (row: taken[$0.key], reason: $0.value) }
                    for (row, reason) in dead {
                        logger.error("an outbox row can never be published; moved to troupe_outbox_dead",
                                     metadata: ["seq": "\(row.seq)", "id": "\(row.id.lowercasedString)", "reason": "\(reason)"])
                    }
                    try db.query("""
                        INSERT INTO troupe_outbox_dead (seq, id, topic, envelope, reason)
                        SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::text[], $4::text[], $5::text[])
                        """, [PostgresArray(dead) { $0.row.seq }, PostgresArray(dead) { $0.row.id }, PostgresArray(dead) { $0.row.topic },
                              PostgresArray(dead) { $0.row.text }, PostgresArray(dead) { $0.reason }])
                    return (rows.count, taken[taken.count - 1].seq, dead.count)
                }
                return (rows.count, taken[taken.count - 1].seq, 0)
            }
        }
        if count > 0 { cursor.withLock { $0.published(upTo: highest, at: .now) } }
        publishedCount.add(count - dead, ordering: .relaxed)
        return count
    }

    /// The wire contract's message for an envelope.
    public static func message(_ envelope: Envelope, body: [UInt8]? = nil) -> AMQPMessage {
        AMQPMessage(body: body ?? envelope.jsonBytes(), contentType: "application/json",
                    messageID: envelope.id.lowercasedString, correlationID: envelope.correlationId,
                    type: envelope.topic, deliveryMode: 2, timestamp: UInt64(envelope.timestamp.timeIntervalSince1970))
    }
}
