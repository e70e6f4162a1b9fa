import ActorRuntime
import ActorRuntimeTesting
import Bridges
import Domain
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

extension ComponentQueues {
    /// `POST /v1/analytics/track`, the request log and the summary, on a real edge node (issue 18 §3).
    @Suite(.serialized) struct AnalyticsEdgeTests {
        typealias Edge = EdgeTests

        static func track(_ f: Edge.Fixture, _ body: String, correlation: String? = nil) async throws -> Edge.Reply {
            var request = URLRequest(url: f.base.appendingPathComponent("v1/analytics/track"))
            request.httpMethod = "POST"
            request.httpBody = Data(body.utf8)
            if let correlation { request.setValue(correlation, forHTTPHeaderField: "x-correlation-id") }
            return try await Edge.send(request)
        }

        static func count(_ f: Edge.Fixture, _ sql: String, _ parameters: [any PostgresEncodable]) async throws -> Int {
            try await f.pool.withConnection { try $0.query(sql, parameters).rows[0].decode("n", as: Int.self) }
        }

        /// Posts `n` events of session `session`, eight at a time; every answer must be 202.
        static func trackMany(_ f: Edge.Fixture, _ n: Int, session: String) async throws {
            let refused = try await withThrowingTaskGroup(of: Int.self) { group in
                for worker in 0..<8 {
                    group.addTask {
                        var refused = 0
                        for i in stride(from: worker, to: n, by: 8) {
                            let r = try await track(f, #"{"event": "bulk", "properties": {"i": \#(i)}, "sessionId": "\#(session)"}"#)
                            if r.status != 202 { refused += 1 }
                        }
                        return refused
                    }
                }
                return try await group.reduce(0, +)
            }
            #expect(refused == 0)
        }

        @Test func aTrackedEventIsAcceptedAtOnceAndStoredAtTheNextFlushWithItsRequestLog() async throws {
            let f = try await Edge.start()
            defer { f.node.kill() }
            let session = "s-\(UUID())", correlation = "req-track-\(UUID())"
            let r = try await Self.track(f, #"{"event": "product_viewed", "properties": {"productId": "p1", "category": "KITCHEN"}, "sessionId": "\#(session)", "pageUrl": "https://shop.example/p1", "referrer": null}"#,
                                         correlation: correlation)
            #expect(r.status == 202)
            #expect(r.json == .object(["accepted": .bool(true)]))
            let stored = "SELECT count(*) AS n FROM analytics_tracked_events WHERE session_id = $1"
            #expect(try await Self.count(f, stored, [session]) == 0, "the request path does not write PostgreSQL")
            // the default flush interval is 10 s
            try await eventually("the tracked event stored", timeout: .seconds(25)) { try await Self.count(f, stored, [session]) == 1 }
            try await eventually("its request logged", timeout: .seconds(25)) {
                try await Self.count(f, "SELECT count(*) AS n FROM analytics_api_requests WHERE correlation_id = $1 AND route = '/v1/analytics/track' AND status = 202 AND method = 'POST'", [correlation]) == 1
            }
            let bad = try await Self.track(f, #"{"event": "x", "properties": "no"}"#)
            #expect(bad.status == 400)
            #expect(bad.json["error"]?["message"] == .string("properties: must be an object"))
            await Edge.stop(f)
        }

        /// Full batches go at once: 1,000 events (and their 1,000 request logs, and the health checks') with an
        /// hour's interval are stored in 1,000-row transactions without waiting for it; what is left of a batch
        /// waits for the interval.
        @Test func aThousandEventsAreFlushedWithoutWaitingForTheInterval() async throws {
            let since = Date()
            let f = try await Edge.start(settings: #""analytics": {"flushInterval": "1h"}, "rateLimits": {"anonymousPerMinute": 100000},"#)
            defer { f.node.kill() }
            let session = "bulk-\(UUID())"
            try await Self.trackMany(f, 1000, session: session)
            // one snapshot of both tables: rows this node stored since it started
            let stored = """
                SELECT (SELECT count(*) FROM analytics_tracked_events WHERE received_at >= $1) + (SELECT count(*) FROM analytics_api_requests WHERE received_at >= $1) AS n
                """
            try await eventually("two full batches stored (the interval is an hour)") { try await Self.count(f, stored, [since]) >= 2000 }
            #expect(try await Self.count(f, stored, [since]) % 1000 == 0, "only whole batches of 1,000 rows")
            f.node.signal(SIGTERM)
            _ = try await f.node.waitForExit(timeout: .seconds(10))
            #expect(try await Self.count(f, "SELECT count(*) AS n FROM analytics_tracked_events WHERE session_id = $1", [session]) == 1000,
                    "the rest at the graceful stop")
            await Edge.stop(f)
        }

        @Test func aGracefulStopFlushesEverythingItAccepted() async throws {
            let f = try await Edge.start(settings: #""analytics": {"flushInterval": "1h", "flushRows": 100000}, "rateLimits": {"anonymousPerMinute": 100000},"#)
            defer { f.node.kill() }
            let session = "stop-\(UUID())"
            try await Self.trackMany(f, 400, session: session)
            #expect(try await Self.count(f, "SELECT count(*) AS n FROM analytics_tracked_events WHERE session_id = $1", [session]) == 0)
            f.node.signal(SIGTERM)
            _ = try await f.node.waitForExit(timeout: .seconds(10))
            #expect(f.node.exitCode == 0)
            #expect(try await Self.count(f, "SELECT count(*) AS n FROM analytics_tracked_events WHERE session_id = $1", [session]) == 400)
            #expect(try await Self.count(f, "SELECT count(*) AS n FROM analytics_api_requests WHERE route = '/v1/analytics/track' AND received_at > now() - interval '1 minute'", []) >= 400)
            await Edge.stop(f)
        }

        @Test func theSummaryNeedsTheAdminTokenAndChecksItsRange() async throws {
            let f = try await Edge.start()
            defer { f.node.kill() }
            func summary(_ query: String, token: String? = Edge.adminToken) async throws -> Edge.Reply {
                var request = URLRequest(url: URL(string: f.base.absoluteString + "/api/analytics/summary" + query)!)
                if let token { request.setValue(token, forHTTPHeaderField: "x-admin-token") }
                return try await Edge.send(request)
            }
            #expect(try await summary("", token: nil).status == 401)
            #expect(try await summary("", token: f.key).status == 401)
            let bad = try await summary("?from=yesterday")
            #expect(bad.status == 400)
            #expect(bad.json["error"]?["message"] == .string("from: 'yesterday' is not an ISO 8601 time like 2026-12-03T00:00:00Z"))
            #expect(try await summary("?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z").status == 422)
            let ok = try await summary("?from=2020-01-01T00:00:00Z&to=2020-01-02T00:00:00Z")
            #expect(ok.status == 200)
            #expect(ok.json["orders"]?["created"] == .number(0))
            #expect(ok.json["topProducts"] == .array([]))
            await Edge.stop(f)
        }
    }
}
