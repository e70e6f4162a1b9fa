import ActorRuntime
import ActorRuntimeTesting
@testable import Bridges
@testable import Domain
import Foundation
import Testing

/// Analytics against the project's PostgreSQL (a private schema): the buffer's flushes, its bound, the
/// consumed domain events, and the aggregates.
@Suite struct AnalyticsTests {
    static func count(_ table: String, _ db: DomainDatabase) async throws -> Int {
        try await db.pool.withConnection { try $0.query("SELECT count(*) AS n FROM \(table)").rows[0].decode("n", as: Int.self) }
    }

    static func tracked(_ i: Int) -> TrackedEvent {
        TrackedEvent(event: i % 2 == 0 ? "product_viewed" : "page_viewed", properties: .object(["i": .number(Double(i)), "tab": .string("a\tb\\c\nd")]),
                     sessionId: "s-\(i % 7)", pageUrl: "https://shop.example/p/\(i)", referrer: nil)
    }

    @Test func aFullBatchIsFlushedAtOnceAndTheRestAtTheInterval() async throws {
        let db = try await DomainDatabase()
        defer { Task { await db.drop() } }
        var configuration = AnalyticsBuffer.Configuration()
        configuration.batchSize = 100
        configuration.interval = .seconds(2)
        let buffer = AnalyticsBuffer(pool: db.pool, configuration: configuration)
        let running = Task { await buffer.run() }
        let start = ContinuousClock.now
        for i in 0..<250 { #expect(buffer.offer(Self.tracked(i))) }
        // two full batches go at once; the 50 left wait for the interval
        try await eventually("two full batches flushed") { buffer.stats.flushedTracked == 200 }
        #expect(ContinuousClock.now - start < configuration.interval)
        #expect(try await Self.count("analytics_tracked_events", db) == 200)
        try await eventually("the rest flushed at the interval") { buffer.stats.flushedTracked == 250 }
        #expect(ContinuousClock.now - start >= configuration.interval)
        #expect(try await Self.count("analytics_tracked_events", db) == 250)
        buffer.stop()
        await running.value
        // what went in is what came out, tabs, backslashes and newlines included
        let row = try await db.pool.withConnection { try $0.query("SELECT properties, session_id, page_url, referrer FROM analytics_tracked_events WHERE (properties->>'i')::int = 3").rows[0] }
        #expect(try row.decode("properties", as: JSONValue.self) == Self.tracked(3).properties)
        #expect(try row.decode("session_id", as: String?.self) == "s-3")
        #expect(try row.decode("referrer", as: String?.self) == nil)
        let perDay = try await db.pool.withConnection {
            try $0.query("SELECT key, count FROM analytics_rollups WHERE metric = 'tracked' ORDER BY key").rows.map { (try $0.decode("key", as: String.self), try $0.decode("count", as: Int.self)) }
        }
        #expect(perDay.map(\.0) == ["page_viewed", "product_viewed"] && perDay.map(\.1) == [125, 125])
    }

    @Test func aFullBufferRefusesTrackedEventsDropsRequestLogsAndDrainKeepsTheRest() async throws {
        let db = try await DomainDatabase()
        defer { Task { await db.drop() } }
        var configuration = AnalyticsBuffer.Configuration()
        configuration.capacity = 30
        configuration.batchSize = 1000
        let buffer = AnalyticsBuffer(pool: db.pool, configuration: configuration)
        for i in 0..<20 { #expect(buffer.offer(Self.tracked(i))) }
        for i in 0..<10 {
            buffer.record(RequestLog(receivedAt: Date(), method: "GET", route: "/api/orders/{id}", status: 200, durationMilliseconds: 1.5,
                                     partner: UUID.v7(), correlationId: "req-\(i)"))
        }
        #expect(!buffer.offer(Self.tracked(99)))
        buffer.record(RequestLog(receivedAt: Date(), method: "GET", route: "/health", status: 200, durationMilliseconds: 1, partner: nil, correlationId: "x"))
        #expect(buffer.stats.refusedTracked == 1 && buffer.stats.droppedRequests == 1)
        await buffer.drain()
        #expect(buffer.pending == 0)
        #expect(try await Self.count("analytics_tracked_events", db) == 20)
        #expect(try await Self.count("analytics_api_requests", db) == 10)
        #expect(buffer.offer(Self.tracked(100)))
    }

    @Test func aFailedFlushKeepsItsRowsForTheNextOne() async throws {
        let db = try await DomainDatabase()
        defer { Task { await db.drop() } }
        var configuration = AnalyticsBuffer.Configuration()
        configuration.batchSize = 2                                 // 5 rows: batches of 2, 2 and 1, two at once
        let buffer = AnalyticsBuffer(pool: db.pool, configuration: configuration)
        for i in 0..<5 { #expect(buffer.offer(Self.tracked(i))) }
        try await db.pool.withConnection { try $0.query("ALTER TABLE analytics_tracked_events RENAME TO away") }
        await #expect(throws: PostgresError.self) { try await buffer.flush(all: true) }
        #expect(buffer.pending == 5 && buffer.stats.failedFlushes == 2, "both batches in flight failed and went back")
        try await db.pool.withConnection { try $0.query("ALTER TABLE away RENAME TO analytics_tracked_events") }
        try await buffer.flush(all: true)
        #expect(buffer.pending == 0 && buffer.stats.flushes == 3)
        #expect(try await Self.count("analytics_tracked_events", db) == 5)
        let order = try await db.pool.withConnection {
            try $0.query("SELECT (properties->>'i')::int AS i FROM analytics_tracked_events ORDER BY ctid").rows.map { try $0.decode("i", as: Int.self) }
        }
        #expect(Set(order) == Set(0..<5), "every row once: \(order)")
    }

    @Test func aDomainEventIsStoredAndCountedOnceHoweverOftenItArrives() async throws {
        let db = try await DomainDatabase()
        defer { Task { await db.drop() } }
        let partner = UUID.v7()
        let completed = Envelope(topic: SagaTopic.orderCompleted, producerId: "order-queue", correlationId: "c",
                                 payload: .object(["orderId": .string(UUID.v7().lowercasedString), "partnerId": .string(partner.lowercasedString),
                                                   "productId": .number(42), "quantity": .number(1), "total": .number(10), "faceValue": .number(10)]))
        for _ in 0..<3 { try await db.pool.transaction { try Analytics.record(completed, on: $0) } }
        #expect(try await Self.count("analytics_domain_events", db) == 1)
        let rollups = try await db.pool.withConnection {
            try $0.query("SELECT metric, partner, key, count FROM analytics_rollups ORDER BY metric").rows.map {
                "\(try $0.decode("metric", as: String.self)) \(try $0.decode("partner", as: String.self)) \(try $0.decode("key", as: String.self)) \(try $0.decode("count", as: Int.self))"
            }
        }
        #expect(rollups == ["event \(partner.lowercasedString) order.completed 1", "product \(partner.lowercasedString) 42 1"])
        // a product id no Int64 holds is stored, and counted as an event, not as a product (it used to trap)
        let odd = Envelope(topic: SagaTopic.orderCompleted, producerId: "order-queue", correlationId: "c", payload: .object(["productId": .number(1e19)]))
        try await db.pool.transaction { try Analytics.record(odd, on: $0) }
        #expect(try await Self.count("analytics_domain_events", db) == 2)
    }

    @Test func theSummaryMatchesTheRows() async throws {
        let db = try await DomainDatabase()
        defer { Task { await db.drop() } }
        let a = UUID.v7(), b = UUID.v7()
        func event(_ topic: String, _ partner: UUID, product: Int) -> Envelope {
            Envelope(topic: topic, producerId: "order-queue", correlationId: "c", payload: .object([
                "orderId": .string(UUID.v7().lowercasedString), "partnerId": .string(partner.lowercasedString), "productId": .number(Double(product))]))
        }
        var events: [Envelope] = []
        for i in 0..<10 { events.append(event(SagaTopic.orderCreated, i < 6 ? a : b, product: 1)) }
        for i in 0..<6 { events.append(event(SagaTopic.orderCompleted, i < 4 ? a : b, product: i < 4 ? 7 : 8)) }
        for _ in 0..<2 { events.append(event(SagaTopic.orderFailed, b, product: 1)) }
        events.append(event(SagaTopic.reserve, a, product: 1))          // not an order outcome: not in the order figures
        let all = events
        try await db.pool.transaction { db in for e in all { try Analytics.record(e, on: db) } }
        let buffer = AnalyticsBuffer(pool: db.pool)
        for i in 0..<3 { _ = buffer.offer(Self.tracked(i)) }
        await buffer.drain()
        // five deliveries: three delivered, one refused for good, one to try again (not ended: not counted)
        try await db.pool.transaction { db in
            for i in 0..<5 {
                try db.query("""
                    INSERT INTO notification_deliveries (event_id, topic, channel, recipient, subject, body, give_up_at)
                    VALUES ($1, 'order.completed', 'webhook', $2, 's', 'b', now() + interval '1 day')
                    """, [UUID.v7(), "http://127.0.0.1:9/\(i)"])
            }
        }
        let claimed = try await db.pool.transaction { try DeliveryLog.claim(limit: 5, inFlight: [:], perRecipient: 4, lease: .seconds(60), on: $0) }
        #expect(claimed.count == 5)
        let attempts = claimed.enumerated().map { i, delivery in
            (DeliveryLog.Attempt(started: Date(), duration: .milliseconds(1), code: i < 3 ? 200 : i == 3 ? 410 : 500,
                                 error: i < 3 ? nil : "HTTP", permanent: i == 3), delivery)
        }
        let schedule = RetryPolicy(maxAttempts: 100, initialDelay: .seconds(60), maxDelay: .seconds(60), jitter: 0)
        _ = try await db.pool.transaction { try DeliveryLog.record(attempts, schedule: schedule, on: $0) }

        let report = try await db.pool.withConnection { try AnalyticsReport.json(from: Date().addingTimeInterval(-3600), to: Date().addingTimeInterval(60), on: $0) }
        let orders = try #require(report["orders"])
        #expect(orders["created"] == .number(10) && orders["completed"] == .number(6) && orders["failed"] == .number(2))
        #expect(orders["conversion"] == .number(0.6))
        guard case .array(let perHour)? = orders["perPartnerPerHour"] else { Issue.record("no perPartnerPerHour"); return }
        let byPartner = Dictionary(uniqueKeysWithValues: perHour.map { ($0["partnerId"]!, $0) })
        #expect(byPartner[.string(a.lowercasedString)]?["created"] == .number(6) && byPartner[.string(a.lowercasedString)]?["completed"] == .number(4))
        #expect(byPartner[.string(b.lowercasedString)]?["failed"] == .number(2))
        #expect(report["topProducts"] == .array([.object(["productId": .number(7), "completedOrders": .number(4)]),
                                                 .object(["productId": .number(8), "completedOrders": .number(2)])]))
        guard case .array(let perDay)? = report["trackedEventsPerDay"] else { Issue.record("no trackedEventsPerDay"); return }
        #expect(perDay.map { $0["event"] } == [.string("page_viewed"), .string("product_viewed")])
        #expect(perDay.map { $0["count"] } == [.number(1), .number(2)])
        #expect(report["notifications"] == .object(["delivered": .number(3), "failed": .number(1), "successRate": .number(0.75)]))
        // a range that holds none of it
        let empty = try await db.pool.withConnection { try AnalyticsReport.json(from: Date().addingTimeInterval(-7200), to: Date().addingTimeInterval(-3700), on: $0) }
        #expect(empty["orders"]?["created"] == .number(0) && empty["orders"]?["conversion"] == JSONValue.null)
        #expect(empty["notifications"]?["successRate"] == JSONValue.null)
    }

    @Test func aTrackedEventIsCheckedFieldByField() throws {
        func problem(_ body: String) -> String? {
            do { _ = try TrackedEvent.parse(Array(body.utf8)); return nil } catch { return error.description }
        }
        #expect(problem(#"{"event":"product_viewed","properties":{"productId":"p1"},"sessionId":"s","pageUrl":"u","referrer":null}"#) == nil)
        #expect(problem("nope")?.hasPrefix("the body is not valid JSON") == true)
        #expect(problem("[]") == "the body must be a JSON object")
        #expect(problem(#"{"properties":{}}"#) == "event: is required")
        #expect(problem(#"{"event":""}"#) == "event: is required")
        #expect(problem(#"{"event":"drop table"}"#)?.hasPrefix("event: must be letters") == true)
        #expect(problem(#"{"event":"e","properties":[1]}"#) == "properties: must be an object")
        #expect(problem(#"{"event":"e","properties":{"a":{"b":["ok","x\u0000"]}}}"#) == "properties.a.b[1]: must not contain NUL (\\u0000)")
        #expect(problem(#"{"event":"e","sessionId":5}"#) == "sessionId: must be a string")
        #expect(problem(#"{"event":"e","pageUrl":"\#(String(repeating: "x", count: 2049))"}"#) == "pageUrl: must be at most 2048 bytes of UTF-8")
        #expect(problem(#"{"event":"e","userId":"u"}"#) == "userId: unknown field")
    }
}
