import ActorRuntime
import Bridges
import DequeModule
import Foundation
import Logging
import Synchronization

/// The edge's buffer of tracked events and request logs, flushed to PostgreSQL by ``run()`` in batches
/// of up to ``Configuration/batchSize`` rows (at once when a batch is full) and whatever is there every
/// ``Configuration/interval``, each batch one transaction of two `COPY`s and the daily rollup. A request
/// only appends to memory.
///
/// Bounded: past ``Configuration/capacity`` rows (PostgreSQL slow or away) ``offer(_:receivedAt:)`` refuses
/// a tracked event, which the edge answers with 503 and `Retry-After`; a request log is dropped and
/// counted instead, so logging never fails a request. A failed flush keeps its rows and tries again.
///
/// What a crash loses: the rows not flushed yet (at most ``Configuration/interval`` of them, or the capacity
/// while PostgreSQL is away), as the reference accepts for anonymous tracking. A graceful stop flushes
/// everything first (``drain()``).
public final class AnalyticsBuffer: Sendable {
    public struct Configuration: Sendable, Equatable {
        public var capacity = 50_000
        public var batchSize = 1_000
        public var interval: Duration = .seconds(10)
        /// How long a failed flush waits before the next try.
        public var retryDelay: Duration = .seconds(1)
        public init() {}
    }

    /// Counters, for `/metrics` and tests.
    public struct Stats: Sendable, Equatable {
        public var flushedTracked = 0, flushedRequests = 0, flushes = 0, failedFlushes = 0
        public var refusedTracked = 0, droppedRequests = 0
    }

    private struct State {
        // Deques: a flush takes its batch from the front while requests append at the back.
        var tracked = Deque<(TrackedEvent, Date)>()
        var requests = Deque<RequestLog>()
        var stats = Stats()
        /// The interval passed since the last full flush.
        var tickDue = false
        /// Rows taken by flushes in flight (still counted against the capacity).
        var writing = 0
        var count: Int { tracked.count + requests.count + writing }
    }

    public let configuration: Configuration
    private let pool: PostgresPool
    private let logger: Logger
    private let state = Mutex(State())
    private let bell: AsyncStream<Void>
    private let ring: AsyncStream<Void>.Continuation

    public init(pool: PostgresPool, configuration: Configuration = .init(), logger: Logger = Logger(label: "troupe.analytics")) {
        self.pool = pool
        self.configuration = configuration
        self.logger = logger
        (bell, ring) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    public var stats: Stats { state.withLock { $0.stats } }
    /// Rows waiting for a flush.
    public var pending: Int { state.withLock { $0.count } }

    /// Keeps `event` for the next flush; false when the buffer is full (the caller answers 503).
    public func offer(_ event: TrackedEvent, receivedAt: Date = Date()) -> Bool {
        let (kept, full) = state.withLock { s -> (Bool, Bool) in
            guard s.count < configuration.capacity else { s.stats.refusedTracked += 1; return (false, false) }
            s.tracked.append((event, receivedAt))
            return (true, s.count >= configuration.batchSize)
        }
        if full { ring.yield() }
        return kept
    }

    /// Keeps `log` for the next flush, or drops it (counted) when the buffer is full.
    public func record(_ log: RequestLog) {
        let full = state.withLock { s -> Bool in
            guard s.count < configuration.capacity else { s.stats.droppedRequests += 1; return false }
            s.requests.append(log)
            return s.count >= configuration.batchSize
        }
        if full { ring.yield() }
    }

    /// Flushes full batches as they fill and everything every interval, until ``stop()``.
    public func run() async {
        let interval = configuration.interval, ring = self.ring
        let ticker = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                self.state.withLock { $0.tickDue = true }
                ring.yield()
            }
        }
        defer { ticker.cancel() }
        for await _ in bell {
            let due = state.withLock { s in defer { s.tickDue = false }; return s.tickDue }
            do {
                try await flush(all: due)
            } catch {
                if due { state.withLock { $0.tickDue = true } }
                logger.warning("analytics flush failed; its rows stay in the buffer", metadata: ["reason": "\(error)", "pending": "\(pending)"])
                try? await Task.sleep(for: configuration.retryDelay)
                ring.yield()                                            // and tries again
            }
        }
    }

    /// Ends ``run()``.
    public func stop() { ring.finish() }

    /// Flushes every row (a graceful stop); logs what could not be stored.
    public func drain() async {
        do { try await flush(all: true) } catch {
            logger.error("analytics rows lost at shutdown: PostgreSQL did not take them", metadata: ["rows": "\(pending)", "reason": "\(error)"])
        }
    }

    /// One flush's rows: a transaction.
    private struct Batch: Sendable {
        var tracked: [(TrackedEvent, Date)]
        var requests: [RequestLog]
        /// Rows taken by flushes in flight (still counted against the capacity).
        var writing = 0
        var count: Int { tracked.count + requests.count + writing }
    }

    /// Batches written at once: while one transaction waits for the database, the next is on its way (the
    /// per-transaction round trips were most of a 1,000-row batch's time).
    static let parallelBatches = 2

    /// Writes full batches, then (if `all`) the rest. A batch that fails goes back to the front.
    public func flush(all: Bool) async throws {
        while true {
            let batches = state.withLock { s -> [Batch] in
                var taken: [Batch] = []
                while taken.count < Self.parallelBatches {
                    let waiting = s.tracked.count + s.requests.count
                    guard waiting > 0, waiting >= configuration.batchSize || all else { break }
                    let t = min(configuration.batchSize, s.tracked.count), r = min(configuration.batchSize - t, s.requests.count)
                    taken.append(Batch(tracked: Array(s.tracked.prefix(t)), requests: Array(s.requests.prefix(r))))
                    s.tracked.removeFirst(t)
                    s.requests.removeFirst(r)
                    s.writing += t + r
                }
                return taken
            }
            guard !batches.isEmpty else { return }
            let failures = await withTaskGroup(of: (Int, (any Error)?).self) { group in
                for (i, batch) in batches.enumerated() {
                    group.addTask {
                        do { try await self.write(tracked: batch.tracked, requests: batch.requests); return (i, nil) } catch { return (i, error) }
                    }
                }
                return await group.reduce(into: [Int: any Error]()) { failed, result in
                    if let error = result.1 { failed[result.0] = error }
                }
            }
            state.withLock { s in
                s.writing -= batches.reduce(0) { $0 + $1.count }
                for (i, batch) in batches.enumerated() where failures[i] == nil {
                    s.stats.flushes += 1
                    s.stats.flushedTracked += batch.tracked.count
                    s.stats.flushedRequests += batch.requests.count
                }
                for i in failures.keys.sorted().reversed() {                // back to the front, in their order
                    s.tracked.insert(contentsOf: batches[i].tracked, at: 0)
                    s.requests.insert(contentsOf: batches[i].requests, at: 0)
                }
            }
            if let error = failures.sorted(by: { $0.key < $1.key }).first?.value { throw error }
        }
    }

    private func write(tracked: [(TrackedEvent, Date)], requests: [RequestLog]) async throws {
        // Tracked events per type per UTC day, for the rollup; keys sorted, so two edges lock rows in one order.
        var perDay: [String: (Date, String, Int)] = [:]
        for (event, at) in tracked {
            let day = Date(timeIntervalSince1970: (at.timeIntervalSince1970 / 86_400).rounded(.down) * 86_400)
            perDay["\(Int(day.timeIntervalSince1970))|\(event.event)", default: (day, event.event, 0)].2 += 1
        }
        let days = perDay.keys.sorted().map { perDay[$0]! }
        do {
            try await pool.transaction { db in
                // These rows are only in memory until now: a database crash losing the last few commits loses
                // no more than a crash of the edge would, so the commit does not wait for its WAL flush.
                try db.query("SET LOCAL synchronous_commit TO off")
                if !tracked.isEmpty {
                    try db.copy("COPY analytics_tracked_events (received_at, event, session_id, page_url, referrer, properties) FROM STDIN",
                                rows: tracked.map { e, at -> [any PostgresEncodable] in [at, e.event, e.sessionId, e.pageUrl, e.referrer, e.properties] })
                    try db.query("""
                        INSERT INTO analytics_rollups (metric, bucket, partner, key, count)
                        SELECT 'tracked', b, '', k, c FROM unnest($1::timestamptz[], $2::text[], $3::bigint[]) AS t(b, k, c)
                        ON CONFLICT (metric, bucket, partner, key) DO UPDATE SET count = analytics_rollups.count + excluded.count
                        """, [PostgresArray(days) { $0.0 }, PostgresArray(days) { $0.1 }, PostgresArray(days) { $0.2 }])
                }
                if !requests.isEmpty {
                    try db.copy("COPY analytics_api_requests (received_at, method, route, status, duration_ms, partner_id, correlation_id) FROM STDIN",
                                rows: requests.map { r -> [any PostgresEncodable] in [r.receivedAt, r.method, r.route, r.status, r.durationMilliseconds, r.partner, r.correlationId] })
                }
            }
        } catch {
            state.withLock { $0.stats.failedFlushes += 1 }
            throw error
        }
    }
}
