import ActorRuntime
import Foundation
import Logging
import Synchronization

/// Publishes what transactions wrote to `troupe_outbox`, after they committed: claims a batch of
/// unpublished rows (`FOR UPDATE SKIP LOCKED`, so relays on several nodes share the work), publishes
/// them with confirms, then marks them published. It wakes when a transaction of this process that
/// emitted commits (``OutboxBell``), on `NOTIFY troupe_outbox` (for writers in other processes), and
/// also polls, so an envelope committed while no relay ran (a crash between commit and publish) is
/// published when one runs again. Delivery is at least once: a relay
/// that dies after publishing and before marking re-publishes, and consumers deduplicate.
public final class OutboxRelay: Sendable {
    private let pool: PostgresPool
    private let publisher: AMQPPublisher
    private let exchange: String
    private let batchSize: Int
    private let claimFor: Duration
    private let logger: Logger
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation
    private let listener: PostgresListener
    private let bell: UUID
    private let publishedCount = Atomic<Int>(0)

    /// - Parameters:
    ///   - databaseURL: for the LISTEN connection (the pool's connections serve the queries).
    ///   - pollInterval: how often it looks even without a notification.
    public init(pool: PostgresPool, databaseURL: String, publisher: AMQPPublisher, exchange: String, batchSize: Int = 500,
                pollInterval: Duration = .seconds(1), claimFor: Duration = .seconds(30), logger: Logger = Logger(label: "troupe.outbox")) {
        self.pool = pool
        self.publisher = publisher
        self.exchange = exchange
        self.batchSize = batchSize
        self.claimFor = claimFor
        self.logger = logger
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        wakeups = stream
        wake = continuation
        listener = PostgresListener(url: databaseURL, channel: "troupe_outbox", interval: pollInterval, logger: logger) { continuation.yield() }
        bell = OutboxBell.listen { continuation.yield() }
    }

    /// Envelopes this relay published (confirmed and marked).
    public var published: Int { publishedCount.load(ordering: .relaxed) }

    /// How long published rows are kept (to look at when something went wrong) before ``prunePublished()``
    /// deletes them; without it the table would grow by every envelope ever sent.
    public static let publishedRetention: Duration = .seconds(600)

    /// Relays until ``stop()``; prunes published rows every minute meanwhile.
    public func run() async {
        let pruning = Task {
            while !Task.isCancelled {
                do { try await prunePublished() } catch { logger.warning("outbox pruning failed", metadata: ["reason": "\(error)"]) }
                try? await Task.sleep(for: .seconds(60))
            }
        }
        defer { pruning.cancel() }
        for await _ in wakeups {
            do {
                while try await relayBatch() == batchSize {}
            } catch {
                logger.warning("outbox relay failed; retrying on the next wake-up", metadata: ["reason": "\(error)"])
            }
        }
    }

    /// Deletes rows published more than `olderThan` ago; returns how many.
    @discardableResult
    public func prunePublished(olderThan: Duration = publishedRetention) async throws -> Int {
        let seconds = olderThan.inSeconds
        return try await pool.withConnection { db in
            try db.query("DELETE FROM troupe_outbox WHERE published_at < now() - make_interval(secs => $1)", [seconds]).affectedRows
        }
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
            let n = try await relayBatch()
            total += n
            if n < batchSize { return total }
        }
    }

    /// Claims, publishes and marks one batch; returns its size.
    func relayBatch() async throws -> Int {
        let limit = batchSize, seconds = Int(claimFor.inSeconds)
        let rows = try await pool.transaction { db in
            try db.query("""
                UPDATE troupe_outbox SET claimed_until = now() + make_interval(secs => $2)
                WHERE seq IN (SELECT seq FROM troupe_outbox
                              WHERE published_at IS NULL AND (claimed_until IS NULL OR claimed_until < now())
                              ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED)
                RETURNING seq, topic, envelope
                """, [limit, seconds]).rows
        }
        guard !rows.isEmpty else { return 0 }
        var seqs: [Int64] = []
        var messages: [(exchange: String, routingKey: String, message: AMQPMessage)] = []
        for row in rows.sorted(by: { (try? $0.decode("seq", as: Int64.self)) ?? 0 < (try? $1.decode("seq", as: Int64.self)) ?? 0 }) {
            seqs.append(try row.decode("seq"))
            let text = try row.decode("envelope", as: String.self)
            let envelope = try Envelope.decode(Array(text.utf8))
            messages.append((exchange, envelope.topic, Self.message(envelope, body: Array(text.utf8))))
        }
        try await publisher.publish(messages)
        let list = "{" + seqs.map(String.init).joined(separator: ",") + "}"
        try await pool.transaction { db in
            try db.query("UPDATE troupe_outbox SET published_at = now() WHERE seq = ANY($1::bigint[])", [list])
        }
        publishedCount.add(rows.count, ordering: .relaxed)
        return rows.count
    }

    /// The wire contract's message for an envelope.
    public static func message(_ envelope: Envelope, body: [UInt8]? = nil) -> AMQPMessage {
        AMQPMessage(body: body ?? envelope.jsonBytes(), contentType: "application/json",
                    messageID: envelope.id.lowercasedString, correlationID: envelope.correlationId,
                    type: envelope.topic, deliveryMode: 2, timestamp: UInt64(envelope.timestamp.timeIntervalSince1970))
    }
}
