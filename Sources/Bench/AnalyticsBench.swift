import ActorRuntime
import Bridges
import Domain
import Foundation
import Hummingbird
import Logging

/// `troupe-bench analytics`: `POST /v1/analytics/track` on a real edge node (rate limit lifted) against a
/// trivial Hummingbird route answering 202 (same server settings, same client) in the same run; and the
/// analytics buffer's flush against one plain `COPY` of the same rows.
enum AnalyticsBench {
    static let env = ProcessInfo.processInfo.environment
    static let total = max(1000, Int(env["BENCH_TRACKS"] ?? "") ?? 30_000)
    static let clients = max(1, Int(env["BENCH_CONCURRENCY"] ?? "") ?? 16)
    static let flushRows = max(1000, Int(env["BENCH_FLUSH_ROWS"] ?? "") ?? 100_000)
    static let body = #"{"event": "product_viewed", "properties": {"productId": "p1", "category": "KITCHEN"}, "sessionId": "s-1", "pageUrl": "https://shop.example/p1", "referrer": null}"#

    static func request(port: Int) -> [UInt8] {
        Array("POST /v1/analytics/track HTTP/1.1\r\nhost: 127.0.0.1:\(port)\r\ncontent-type: application/json\r\ncontent-length: \(body.utf8.count)\r\n\r\n\(body)".utf8)
    }

    @Sendable static func run() async throws {
        let baseline = try await baselineRate()
        report("analytics.baseline_post_per_s", baseline, "req/s")
        let (track, p99, paced) = try await trackRate()
        report("analytics.track_per_s", track, "req/s")
        report("analytics.track_vs_baseline", track / baseline, "ratio")
        report("analytics.track_p99_ms", p99, "ms")
        report("analytics.track_paced_per_s", paced, "req/s")
        let (flush, copy) = try await flushRate()
        report("analytics.flush_rows_per_s", flush, "rows/s")
        report("pg.copy", copy, "rows/s")
        report("analytics.flush_vs_copy", flush / copy, "ratio")
    }

    /// A Hummingbird route that reads the body and answers 202, nothing else.
    static func baselineRate() async throws -> Double {
        let port = try HTTPLoad.freePort()
        let router = Router()
        router.post("/v1/analytics/track") { request, _ -> Response in
            _ = try await request.body.collect(upTo: 8 * 1024)
            return Response(status: .accepted, headers: [.contentType: "application/json; charset=utf-8"],
                            body: ResponseBody(byteBuffer: ByteBuffer(string: #"{"accepted":true}"#)))
        }
        router.get("/health") { _, _ in "ok" }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: "troupe"),
                              logger: HTTPLoad.quietLogger)
        let server = Task { try await app.runService(gracefulShutdownSignals: []) }
        defer { server.cancel() }
        try await HTTPLoad.awaitReady(host: "127.0.0.1", port: port, path: "/health")
        let request = request(port: port)
        _ = try await HTTPLoad.flat(host: "127.0.0.1", port: port, total: total / 10, clients: clients, expect: 202) { _ in request }   // warm-up
        return try await HTTPLoad.flat(host: "127.0.0.1", port: port, total: total, clients: clients, expect: 202) { _ in request }.perSecond
    }

    /// The edge of a node of its own (no component: the analytics consumer's work would not be the route's).
    static func trackRate() async throws -> (perSecond: Double, p99: Double, paced: Double) {
        let port = try HTTPLoad.freePort()
        let node = try BenchNode.start("edge", settings: #""rateLimits": {"anonymousPerMinute": 10000000}, "analytics": {"bufferCapacity": 1000000},"#, nodes: """
            [ { "name": "edge", "http": { "host": "127.0.0.1", "port": \(port) }, "components": [] },
              { "name": "rest", "components": [ { "name": "order-queue" }, { "name": "inventory" }, { "name": "payment" },
                                                { "name": "brand-sync" }, { "name": "notification" }, { "name": "analytics" } ] } ]
            """)
        return try await withCleanup {
            try await HTTPLoad.awaitReady(host: "127.0.0.1", port: port, path: "/health")
            let request = request(port: port)
            _ = try await HTTPLoad.flat(host: "127.0.0.1", port: port, total: total / 10, clients: clients, expect: 202) { _ in request }
            let rate = try await HTTPLoad.flat(host: "127.0.0.1", port: port, total: total, clients: clients, expect: 202) { _ in request }.perSecond
            let latencies = try await HTTPLoad.paced(host: "127.0.0.1", port: port, perSecond: rate / 2, duration: .seconds(5), clients: clients,
                                                     expect: 202) { _ in request }
            return (rate, HTTPLoad.percentile(latencies, 0.99), rate / 2)
        } cleanup: {
            await node.stop()
        }
    }

    /// ``AnalyticsBuffer/flush(all:)`` of `flushRows` tracked events (batches of 1,000: two COPYs and the
    /// rollup each) into a scratch schema, against one `COPY` of the same rows into a table of the same
    /// columns.
    static func flushRate() async throws -> (flush: Double, copy: Double) {
        let schema = "bench_analytics"
        let setup = PostgresPool(.init(url: BenchNode.databaseURL, size: 1))
        try await setup.withConnection { db in
            try db.query("DROP SCHEMA IF EXISTS \(schema) CASCADE")
            try db.query("CREATE SCHEMA \(schema)")
        }
        await setup.shutdown()
        let pool = PostgresPool(.init(url: BenchNode.databaseURL, size: 2, applicationName: "bench", schema: schema))
        try await Migrator(pool: pool, migrations: DomainSchema.allMigrations()).run()
        var configuration = AnalyticsBuffer.Configuration()
        configuration.capacity = flushRows
        configuration.batchSize = Int(env["BENCH_FLUSH_BATCH"] ?? "") ?? configuration.batchSize
        let buffer = AnalyticsBuffer(pool: pool, configuration: configuration)
        let events = (0..<flushRows).map { i in
            TrackedEvent(event: ["product_viewed", "page_viewed", "added_to_cart"][i % 3], properties: .object(["productId": .string("p\(i % 500)")]),
                         sessionId: "s-\(i % 2000)", pageUrl: "https://shop.example/p/\(i % 500)", referrer: nil)
        }
        let now = Date()
        for e in events { _ = buffer.offer(e, receivedAt: now) }
        var start = ContinuousClock.now
        try await buffer.flush(all: true)
        let flush = Double(flushRows) / seconds(since: start)

        try await pool.withConnection { try $0.query("CREATE TABLE plain_copy (LIKE analytics_tracked_events)") }
        let rows: [[any PostgresEncodable]] = events.map { [now, $0.event, $0.sessionId, $0.pageUrl, $0.referrer, $0.properties] }
        start = ContinuousClock.now
        try await pool.transaction { try $0.copy("COPY plain_copy (received_at, event, session_id, page_url, referrer, properties) FROM STDIN", rows: rows) }
        let copy = Double(flushRows) / seconds(since: start)
        try await pool.withConnection { try $0.query("DROP SCHEMA \(schema) CASCADE") }
        await pool.shutdown()
        return (flush, copy)
    }
}
