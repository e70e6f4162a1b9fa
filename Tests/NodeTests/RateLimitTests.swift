import ActorRuntime
import ActorRuntimeTesting
import Bridges
import Domain
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Hummingbird
import HummingbirdTesting
import Logging
@testable import Node
import Testing

extension ComponentQueues {
    /// The edge's rate limits (issue 18 §4): 429 with `Retry-After` in the JSON error shape.
    @Suite(.serialized) struct RateLimitTests {
        typealias Edge = EdgeTests

        @Test func theHundredAndFirstTrackRequestOfAMinuteFromOneAddressGets429() async throws {
            let f = try await Edge.start()
            defer { f.node.kill() }
            for i in 0..<100 {
                let r = try await AnalyticsEdgeTests.track(f, #"{"event": "limit_probe"}"#)
                #expect(r.status == 202, "request \(i + 1): \(r.status)")
            }
            let refused = try await AnalyticsEdgeTests.track(f, #"{"event": "limit_probe"}"#)
            #expect(refused.status == 429)
            #expect(refused.json["error"]?["code"] == .string("rate_limited"))
            let wait = try #require(refused.retryAfter.flatMap(Int.init))
            #expect(wait >= 1 && wait <= 60, "one token comes back every 0.6 s: \(wait)")
            // partner routes have their own limit
            #expect(try await Edge.get(f.base.appendingPathComponent("api/orders/\(UUID())"), key: f.key).status == 404)
            await Edge.stop(f)
        }

        @Test func eachAPIKeyHasItsOwnLimit() async throws {
            let f = try await Edge.start(settings: #""rateLimits": {"partnerPerMinute": 5},"#)
            defer { f.node.kill() }
            let url = f.base.appendingPathComponent("api/orders/\(UUID())")
            for _ in 0..<5 { #expect(try await Edge.get(url, key: f.key).status == 404) }
            let refused = try await Edge.get(url, key: f.key)
            #expect(refused.status == 429)
            #expect(refused.retryAfter.flatMap(Int.init).map { $0 >= 1 } == true)
            #expect(try await Edge.get(url, key: f.otherKey).status == 404, "another partner's key is not limited by the first")
            await Edge.stop(f)
        }

        /// The edge's partner routes in process, over a database that is not there: a key that reaches
        /// PostgreSQL answers 500; refused before it, 401 or 429.
        @Test func aFloodOfBadKeysNeverReachesTheDatabase() async throws {
            let dead = PostgresPool(.init(url: "postgresql://troupe:troupe@127.0.0.1:\(try FreePort.pick(in: 30_000...39_999))/troupe", size: 1))
            defer { Task { await dead.shutdown() } }
            let limits = EdgeRateLimits(Topology.RateLimits(anonymousPerMinute: 100))
            let router = Router(context: EdgeContext.self)
            router.add(middleware: EdgeMiddleware(logger: Logger(label: "test"), metrics: EdgeMetrics(), analytics: nil, limits: limits))
            router.group("/api").add(middleware: APIKeyMiddleware(callers: CallerCache(registry: PartnerRegistry(pool: dead, keySecret: "s")), limits: limits))
                .get("/orders/:id") { _, _ in "never" }
            let app = Application(router: router)
            try await app.test(.router) { client in
                func status(_ key: String) async throws -> Int {
                    try await client.execute(uri: "/api/orders/1", method: .get, headers: [APIKeyMiddleware.header: key]).status.code
                }
                // well-formed, unknown: looked up, and the lookup fails here — the test can tell a lookup
                let looked = try await status(APIKey.generate().text)
                #expect(looked == 500)
                for i in 0..<99 {                               // the lookup above counted as the first bad key
                    let answer = try await status(i % 2 == 0 ? "tk_short" : "not a key at all \(i)")
                    #expect(answer == 401)
                }
                let limited = try await status("tk_short"), unlooked = try await status(APIKey.generate().text)
                #expect(limited == 429, "the address sent 100 keys that were not valid")
                #expect(unlooked == 429, "not looked up either")
            }
        }
    }
}
