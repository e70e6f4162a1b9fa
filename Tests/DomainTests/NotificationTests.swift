import ActorRuntime
@testable import Bridges
@testable import Domain
import Foundation
import Testing

/// Notification's pieces against the project's PostgreSQL (a private schema): templates, signatures, the
/// deliveries an event records, and the log's claims and outcomes.
@Suite struct NotificationTests {
    static let secret = "domain-test-secret-123"

    /// A partner with a webhook and an email, and an order of it; returns (partner, order, webhook secret).
    static func partnerWithOrder(_ db: DomainDatabase) async throws -> (UUID, UUID, String) {
        let order = try await db.order(step: "completed", idleSeconds: 0)
        let row = try await db.pool.withConnection { try $0.query("SELECT p.id, p.name FROM orders o JOIN partners p ON p.id = o.partner_id WHERE o.id = $1", [order]).rows[0] }
        let name: String = try row.decode("name")
        let registry = PartnerRegistry(pool: db.pool, keySecret: secret)
        let webhookSecret = try await registry.setWebhook(partner: name, url: "http://127.0.0.1:9/hook", vault: .development)
        try await registry.setEmail(partner: name, email: "partner@example.test")
        return (try row.decode("id"), order, webhookSecret)
    }

    static func completed(_ order: UUID, partner: UUID) -> Envelope {
        Envelope(topic: SagaTopic.orderCompleted, producerId: "order-queue", correlationId: "req-n", payload: .object([
            "orderId": .string(order.lowercasedString), "partnerId": .string(partner.lowercasedString), "productId": .number(1),
            "quantity": .number(1), "faceValue": .number(25), "total": .number(25)]))
    }

    @Test func theShippedTemplatesRenderASubjectAndAText() throws {
        let templates = try NotificationTemplates.bundled()
        let (subject, text) = try templates.render(SagaTopic.orderFailed, ["referenceId": "ref-<1>", "partnerName": "Acme & Co", "quantity": "2",
                                                                            "sku": "AMAZON-US-1001", "faceValue": "25", "currency": "USD", "reason": "out of stock"])
        #expect(subject == "Order ref-<1> failed")
        #expect(text.hasPrefix("Hello Acme & Co,"), "plain text: nothing HTML-escaped")
        #expect(text.contains("could not be completed: out of stock."))
        #expect(try templates.render(SagaTopic.orderCompleted, ["referenceId": "r"]).subject == "Order r completed")
        #expect(try templates.render(DomainTopic.alertRaised, ["kind": "notification.failed"]).subject == "Troupe alert: notification.failed")
        #expect(throws: NotificationTemplates.Problem.self) { try templates.render("payment.debited", [:]) }
        #expect(throws: NotificationTemplates.Problem.self) { try NotificationTemplates(["broken": "{{#open}} never closed"]) }
        #expect(throws: NotificationTemplates.Problem.self) { try NotificationTemplates(["blank": "\n{{x}}"]).render("blank", ["x": "1"]) }
    }

    @Test func aSignatureVerifiesOnlyForItsBodySecretAndTime() {
        let body = Array(#"{"id":"e1","type":"order.completed"}"#.utf8), secret = WebhookSignature.newSecret()
        let now = Date()
        let header = WebhookSignature.sign(body, secret: secret, at: now)
        #expect(header.hasPrefix("t=\(Int(now.timeIntervalSince1970)),v1="))
        #expect(WebhookSignature.verify(header, body: body, secret: secret, now: now))
        #expect(!WebhookSignature.verify(header, body: body, secret: WebhookSignature.newSecret(), now: now), "forged: another secret")
        #expect(!WebhookSignature.verify(header, body: body + [0x20], secret: secret, now: now), "forged: another body")
        #expect(!WebhookSignature.verify(header, body: body, secret: secret, now: now.addingTimeInterval(301)), "stale: a replay")
        #expect(!WebhookSignature.verify("t=1,v1=00", body: body, secret: secret, now: now))
    }

    @Test func anEventRecordsOneDeliveryPerRecipientHoweverOftenItArrives() async throws {
        let db = try await DomainDatabase()
        defer { Task { await db.drop() } }
        let (partner, order, _) = try await Self.partnerWithOrder(db)
        let settings = Notification.Settings(templates: try .bundled(), email: true)
        let event = Self.completed(order, partner: partner)
        for _ in 0..<3 { try await db.pool.transaction { try Notification.enqueue(event, settings, context: DeliveryContext(db: $0)) } }
        let rows = try await db.pool.withConnection {
            try $0.query("SELECT channel, recipient, subject, body, status FROM notification_deliveries WHERE event_id = $1 ORDER BY channel", [event.id]).rows
        }
        #expect(rows.count == 2)
        #expect(try rows.map { try $0.decode("channel", as: String.self) } == ["email", "webhook"])
        #expect(try rows[0].decode("recipient", as: String.self) == "partner@example.test")
        let webhook = try JSONValue(parsing: Array(try rows[1].decode("body", as: String.self).utf8))
        #expect(webhook["id"] == .string(event.id.lowercasedString) && webhook["type"] == .string("order.completed"))
        #expect(webhook["data"]?["orderId"] == .string(order.lowercasedString))
        #expect(webhook["subject"] == .string(try rows[1].decode("subject")))
        // without SMTP, only the webhook
        let other = Self.completed(order, partner: partner)
        try await db.pool.transaction { try Notification.enqueue(other, Notification.Settings(templates: try .bundled()), context: DeliveryContext(db: $0)) }
        #expect(try await db.pool.withConnection { try $0.query("SELECT count(*) AS n FROM notification_deliveries WHERE event_id = $1", [other.id]).rows[0].decode("n", as: Int.self) } == 1)
        // an order that does not exist is a permanent failure (dead-lettered), not a crash
        let ghost = Self.completed(UUID.v7(), partner: partner)
        await #expect(throws: NotificationTemplates.Problem.self) { try await db.pool.transaction { try Notification.enqueue(ghost, settings, context: DeliveryContext(db: $0)) } }
    }

    @Test func aClaimIsExclusiveAndAnOutcomeDecidesTheNextTry() async throws {
        let db = try await DomainDatabase()
        defer { Task { await db.drop() } }
        let (partner, order, _) = try await Self.partnerWithOrder(db)
        let event = Self.completed(order, partner: partner)
        try await db.pool.transaction { try Notification.enqueue(event, Notification.Settings(templates: try .bundled(), retryFor: .seconds(60)), context: DeliveryContext(db: $0)) }
        let first = try await db.pool.transaction { try DeliveryLog.claim(limit: 10, inFlight: [:], perRecipient: 4, lease: .seconds(30), on: $0) }
        #expect(first.count == 1 && first[0].attempt == 1 && first[0].sealedSecret != nil)
        #expect(try await db.pool.transaction { try DeliveryLog.claim(limit: 10, inFlight: [:], perRecipient: 4, lease: .seconds(30), on: $0) }.isEmpty,
                "leased: no second sender")
        let schedule = RetryPolicy(maxAttempts: 100, initialDelay: .seconds(1), maxDelay: .seconds(10), jitter: 0)
        let now = Date()
        let retry = try await db.pool.transaction {
            try DeliveryLog.record(.init(started: now, duration: .milliseconds(5), code: 429, error: "HTTP 429", retryAfter: .seconds(7)), of: first[0], schedule: schedule, now: now, on: $0)
        }
        #expect(retry == .retry(at: now.addingTimeInterval(7)), "Retry-After beats the 1 s backoff")
        try await db.pool.withConnection { try $0.query("UPDATE notification_deliveries SET next_attempt_at = now()") }
        let second = try await db.pool.transaction { try DeliveryLog.claim(limit: 10, inFlight: [:], perRecipient: 4, lease: .seconds(30), on: $0) }
        #expect(second.count == 1 && second[0].attempt == 2)
        #expect(try await db.pool.transaction { try DeliveryLog.claim(limit: 10, inFlight: [:], perRecipient: 4, lease: .seconds(30), on: $0) }.isEmpty)
        // a stale sender (attempt 1) cannot overwrite what attempt 2 decides
        let stale = try await db.pool.transaction {
            try DeliveryLog.record(.init(started: now, duration: .zero, code: 200, error: nil), of: first[0], schedule: schedule, on: $0)
        }
        #expect(stale == .delivered)
        let refused = try await db.pool.transaction {
            try DeliveryLog.record(.init(started: now, duration: .zero, code: 410, error: "HTTP 410", permanent: true), of: second[0], schedule: schedule, on: $0)
        }
        #expect(refused == .failed(reason: "refused: HTTP 410"))
        let row = try await db.pool.withConnection { try $0.query("SELECT status, attempts, last_code FROM notification_deliveries WHERE event_id = $1", [event.id]).rows[0] }
        #expect(try row.decode("status", as: String.self) == "failed" && row.decode("attempts", as: Int.self) == 2 && row.decode("last_code", as: Int?.self) == 410)
        let attempts = try await db.pool.withConnection { try $0.query("SELECT outcome FROM notification_attempts ORDER BY attempt").rows.map { try $0.decode("outcome", as: String.self) } }
        #expect(attempts == ["retry", "failed"], "the stale record kept attempt 1's first row")
        let alert = try await db.pool.withConnection { try $0.query("SELECT envelope FROM troupe_outbox WHERE topic = 'alert.raised'").rows }
        #expect(alert.count == 1, "a delivery that failed for good raises one alert")
    }

    /// A claim reads about as many rows as it claims, however long the backlog, whatever the statistics:
    /// with statistics taken while nothing was pending (after a quiet spell), the plan the connection cached
    /// read every due delivery for each claim (`troupe-bench notify` ran at a third of its speed).
    @Test func aClaimReadsABoundedNumberOfRowsWhenTheStatisticsSayNothingIsPending() async throws {
        let db = try await DomainDatabase()
        defer { Task { await db.drop() } }
        let (partner, _, _) = try await Self.partnerWithOrder(db)
        let (sql, parameters) = DeliveryLog.claimStatement(limit: 32, excluded: [], inFlight: [:], perRecipient: 4, lease: .seconds(30))
        let plan = try await db.pool.withConnection { c in
            try c.query("""
                INSERT INTO notification_deliveries (event_id, topic, channel, recipient, partner_id, subject, body, give_up_at, status)
                SELECT gen_random_uuid(), 'order.completed', 'webhook', 'http://127.0.0.1:9/' || (i % 64), $1, 's', '{}', now() + interval '1 day', 'delivered'
                FROM generate_series(1, 20000) i
                """, [partner])
            try c.execute(script: "ANALYZE notification_deliveries")
            try c.query("""
                INSERT INTO notification_deliveries (event_id, topic, channel, recipient, partner_id, subject, body, give_up_at)
                SELECT gen_random_uuid(), 'order.completed', 'webhook', 'http://127.0.0.1:9/' || (i % 64), $1, 's', '{}', now() + interval '1 day'
                FROM generate_series(1, 4000) i
                """, [partner])
            try c.execute(script: "SET plan_cache_mode = force_generic_plan")   // as a connection's cached statement runs
            defer { try? c.execute(script: "RESET plan_cache_mode") }
            return try JSONValue(parsing: Array(try c.query("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, parameters).rows[0].decode("QUERY PLAN", as: String.self).utf8))
        }
        func rowsRead(_ node: JSONValue) -> [Double] {
            var read: [Double] = []
            if node["Relation Name"] == .string("notification_deliveries"), case .number(let rows)? = node["Actual Rows"],
               case .number(let loops)? = node["Actual Loops"] { read.append(rows * loops) }
            if case .array(let children)? = node["Plans"] { for child in children { read += rowsRead(child) } }
            return read
        }
        guard case .array(let top) = plan, let root = top.first?["Plan"] else { Issue.record("no plan: \(plan)"); return }
        let read = rowsRead(root)
        #expect(!read.isEmpty)
        #expect(read.allSatisfy { $0 <= 32 * 8 }, "rows read from notification_deliveries per plan node: \(read)")
    }

    @Test func aRecipientWithABacklogKeepsOnlyItsOwnSlots() async throws {
        let db = try await DomainDatabase()
        defer { Task { await db.drop() } }
        let (partner, _, _) = try await Self.partnerWithOrder(db)
        let x = "http://127.0.0.1:9/backlog", y = "http://127.0.0.1:9/other"
        // 600 deliveries to x, due longer than y's one (an endpoint that fails fast keeps its retries in front)
        try await db.pool.withConnection { c in
            try c.query("""
                INSERT INTO notification_deliveries (event_id, topic, channel, recipient, partner_id, subject, body, give_up_at, next_attempt_at)
                SELECT gen_random_uuid(), 'order.completed', 'webhook', $1, $2, 's', '{}', now() + interval '1 day', now() - interval '1 hour' + i * interval '1 ms'
                FROM generate_series(1, 600) i
                """, [x, partner])
            try c.query("""
                INSERT INTO notification_deliveries (event_id, topic, channel, recipient, partner_id, subject, body, give_up_at)
                VALUES (gen_random_uuid(), 'order.completed', 'webhook', $1, $2, 's', '{}', now() + interval '1 day')
                """, [y, partner])
        }
        let claimed = try await db.pool.transaction { try DeliveryLog.claim(limit: 8, inFlight: [:], perRecipient: 4, lease: .seconds(30), on: $0) }
        #expect(claimed.filter { $0.recipient == x }.count == 4, "at most 4 to one recipient")
        #expect(claimed.contains { $0.recipient == y }, "the other recipient is not behind the first one's backlog")
        let more = try await db.pool.transaction { try DeliveryLog.claim(limit: 8, inFlight: [x: 3], perRecipient: 4, lease: .seconds(30), on: $0) }
        #expect(more.count == 1 && more[0].recipient == x, "3 in flight: one more, not four")
        let none = try await db.pool.transaction { try DeliveryLog.claim(limit: 8, inFlight: [x: 4], perRecipient: 4, lease: .seconds(30), on: $0) }
        #expect(none.isEmpty, "a recipient at its limit gets nothing more")
    }
}
