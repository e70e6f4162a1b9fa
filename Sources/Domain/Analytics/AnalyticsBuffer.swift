import ActorRuntime
import Bridges
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
        var tracked: [(TrackedEvent, Date)] = []
        var requests: [RequestLog] = []
        var stats = Stats()
        /// The interval passed since the last full flush.
        var tickDue = false
        var count: Int { tracked.count + requests.count }
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

    /// Writes full batches, then (if `all`) the rest.
    public func flush(all: Bool) async throws {
        while true {
            let (tracked, requests) = state.withLock { s in
                let t = Array(s.tracked.prefix(configuration.batchSize))
                return (t, Array(s.requests.prefix(configuration.batchSize - t.count)))
            }
            let size = tracked.count + requests.count
            guard size > 0, size == configuration.batchSize || all else { return }
            try await write(tracked: tracked, requests: requests)
            state.withLock { s in
                s.tracked.removeFirst(tracked.count)
                s.requests.removeFirst(requests.count)
                s.stats.flushes += 1
                s.stats.flushedTracked += tracked.count
                s.stats.flushedRequests += requests.count
            }
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
