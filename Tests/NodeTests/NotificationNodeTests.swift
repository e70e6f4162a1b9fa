import ActorRuntime
import ActorRuntimeTesting
import Bridges
import Domain
import Foundation
import Testing

extension ComponentQueues {
    /// Notification on real nodes (issue 18 §2, §5): webhooks to a real HTTP endpoint, email to the project's
    /// SMTP server, retries, give-up alerts, racing instances and slow receivers.
    @Suite(.serialized) struct NotificationNodeTests {
        static let amqpURL = NodeRuntimeTests.amqpURL
        static let databaseURL = NodeRuntimeTests.databaseURL
        static let smtpURL = ProcessInfo.processInfo.environment["TROUPE_SMTP_URL"] ?? "smtp://127.0.0.1:2526"
        static let env = NodeRuntimeTests.env

        struct Fixture {
            let topology: String
            let pool: PostgresPool
            let registry: PartnerRegistry
            let sku: String
            let opsEmail: String
        }

        /// A topology whose nodes n1 and n2 host Notification (a node of the rest is never started), with fast
        /// retries for `retryFor`; the notification queue emptied of other tests' events.
        static func fixture(retryFor: String = "30s", concurrency: Int = 64) async throws -> Fixture {
            let ops = "ops-\(UUID().uuidString.prefix(8).lowercased())@localhost"
            let topology = try CLI.writeTopology("""
                { "broker": { "url": "\(amqpURL)" }, "database": { "url": "\(databaseURL)" }, "security": { "apiKeySecret": "notification-test-secret" },
                  "notification": { "smtp": { "url": "\(smtpURL)", "from": "troupe@localhost" }, "alertEmail": "\(ops)",
                                    "retry": { "initialDelay": "200ms", "maxDelay": "1s", "retryFor": "\(retryFor)" }, "webhookTimeout": "10s",
                                    "concurrency": \(concurrency) },
                  "nodes": [ { "name": "n1", "components": [ { "name": "notification" } ] },
                             { "name": "n2", "components": [ { "name": "notification" } ] },
                             { "name": "rest", "components": [ { "name": "order-queue" }, { "name": "inventory" }, { "name": "payment" },
                                                               { "name": "brand-sync" }, { "name": "analytics" } ] } ] }
                """)
            let admin = try AMQPConnection(url: AMQPURL(amqpURL))
            try WireTopology().declare(component: "notification", topics: Notification.topics, on: admin)
            try admin.purge("troupe.notification")
            let pool = PostgresPool(.init(url: databaseURL, size: 2))
            _ = try await Migrator(pool: pool, migrations: DomainSchema.allMigrations()).run()
            let sku = "NOTE-\(UUID().uuidString.prefix(8))"
            try await pool.withConnection { db in
                try db.query("INSERT INTO products (internal_id, sku, name, brand, currency, min_face_value, max_face_value) VALUES ($1, $1, 'Card', 'Brand', 'USD', 5, 500)", [sku])
            }
            return Fixture(topology: topology, pool: pool, registry: PartnerRegistry(pool: pool, keySecret: "notification-test-secret"), sku: sku, opsEmail: ops)
        }

        /// A partner whose webhook goes to `url` (and email to `email`); returns its id, name and signing secret.
        static func partner(_ f: Fixture, webhook url: String, email: String? = nil) async throws -> (id: UUID, name: String, secret: String) {
            let created = try await f.registry.add(name: "note-\(UUID().uuidString.prefix(8))", wallet: 0, pricePercent: 100)
            let secret = try await f.registry.setWebhook(partner: created.name, url: url, vault: .development)
            if let email { try await f.registry.setEmail(partner: created.name, email: email) }
            return (created.id, created.name, secret)
        }

        /// An order of `partner` in its final state, and the event that says so.
        static func outcome(_ f: Fixture, partner: UUID, completed: Bool) async throws -> Envelope {
            let id = UUID.v7()
            try await f.pool.withConnection { db in
                try db.query("""
                    INSERT INTO orders (id, partner_id, reference_id, product_id, sku, face_value, quantity, unit_price, total, currency, status, step, correlation_id)
                    SELECT $1, $2, $3, id, sku, 25, 1, 25, 25, 'USD', $4, $5, 'req-note' FROM products WHERE sku = $6
                    """, [id, partner, "ref-\(id.lowercasedString.suffix(6))", completed ? "Completed" : "Failed", completed ? "completed" : "failed", f.sku])
            }
            var payload: [String: JSONValue] = ["orderId": .string(id.lowercasedString), "partnerId": .string(partner.lowercasedString), "productId": .number(1),
                                                "quantity": .number(1), "faceValue": .number(25), "total": .number(25)]
            if !completed { payload["reason"] = .string("out of stock") }
            return Envelope(topic: completed ? SagaTopic.orderCompleted : SagaTopic.orderFailed, producerId: "order-queue", correlationId: "req-note",
                            payload: .object(payload))
        }

        static func publish(_ envelopes: [Envelope]) async throws {
            try await DedicatedThread.run("test.publish") {
                let c = try AMQPConnection(url: AMQPURL(amqpURL))
                for e in envelopes { try c.publish(exchange: "troupe.events", routingKey: e.topic, OutboxRelay.message(e)) }
            }
        }

        static func node(_ name: String, _ f: Fixture) async throws -> NodeProcess {
            let node = try NodeProcess(["node", name, "--topology", f.topology], environment: env)
            try await node.waitFor("node started")
            return node
        }

        static func stop(_ nodes: NodeProcess...) async throws {
            for n in nodes { n.signal(SIGTERM) }
            for n in nodes { #expect(try await n.waitForExit(timeout: .seconds(15)) == 0) }
        }

        static func deliveries(_ f: Fixture, event: UUID) async throws -> [(channel: String, status: String, attempts: Int)] {
            try await f.pool.withConnection { db in
                try db.query("SELECT channel, status, attempts FROM notification_deliveries WHERE event_id = $1 ORDER BY channel", [event]).rows.map {
                    (try $0.decode("channel"), try $0.decode("status"), try $0.decode("attempts"))
                }
            }
        }

        @Test func aCompletedAndAFailedOrderEachGetOneSignedWebhookAndOneEmail() async throws {
            let f = try await Self.fixture()
            defer { Task { await f.pool.shutdown() } }
            let sink = try await WebhookSink()
            defer { sink.stop() }
            let hook = "p-\(UUID().uuidString.prefix(8))", email = "\(hook.lowercased())@example.test"
            let p = try await Self.partner(f, webhook: sink.url(hook), email: email)
            let completed = try await Self.outcome(f, partner: p.id, completed: true), failed = try await Self.outcome(f, partner: p.id, completed: false)
            let node = try await Self.node("n1", f)
            defer { node.kill() }
            try await Self.publish([completed, completed, failed])               // the first one redelivered
            try await eventually("two webhooks") { sink.requests(hook).count == 2 }
            try await eventually("two emails") { try Mailbox.messages(to: email).count == 2 }
            for request in sink.requests(hook) {
                let signature = try #require(request.signature)
                #expect(WebhookSignature.verify(signature, body: request.body, secret: p.secret), "signed with the partner's secret")
                #expect(!WebhookSignature.verify(signature, body: request.body, secret: WebhookSignature.newSecret()), "a forged one is told apart")
                #expect(!WebhookSignature.verify(signature, body: request.body, secret: p.secret, now: Date().addingTimeInterval(600)), "and a stale one")
                let json = try JSONValue(parsing: request.body)
                #expect(json["id"] == request.eventID.map(JSONValue.string))
            }
            #expect(Set(sink.requests(hook).compactMap(\.eventID)) == [completed.id.lowercasedString, failed.id.lowercasedString])
            let mails = try Mailbox.messages(to: email)
            #expect(mails.contains { $0.contains("Subject: Order ref-") && $0.contains("completed") })
            #expect(mails.contains { $0.contains("could not be completed: out of stock.") })
            try await Self.stop(node)
            let mailed = try Mailbox.messages(to: email).count
            #expect(sink.requests(hook).count == 2 && mailed == 2, "nothing sent twice")
            for event in [completed.id, failed.id] {
                let rows = try await Self.deliveries(f, event: event)
                #expect(rows.map(\.channel) == ["email", "webhook"] && rows.allSatisfy { $0.status == "delivered" && $0.attempts == 1 }, "\(rows)")
            }
        }

        @Test func aReceiverFailingThreeTimesGetsTheNotificationOnceAfterRetries() async throws {
            let f = try await Self.fixture()
            defer { Task { await f.pool.shutdown() } }
            let sink = try await WebhookSink { _, nth in (nth <= 3 ? 500 : 200, nil, .zero) }
            defer { sink.stop() }
            let hook = "flaky-\(UUID().uuidString.prefix(8))"
            let p = try await Self.partner(f, webhook: sink.url(hook))
            let event = try await Self.outcome(f, partner: p.id, completed: true)
            let node = try await Self.node("n1", f)
            defer { node.kill() }
            try await Self.publish([event])
            try await eventually("delivered after three failures") { try await Self.deliveries(f, event: event.id).first?.status == "delivered" }
            #expect(sink.requests(hook).count == 4)
            #expect(Set(sink.requests(hook).map(\.eventID)) == [event.id.lowercasedString], "the same event id every time")
            let attempts = try await f.pool.withConnection { db in
                try db.query("""
                    SELECT a.outcome, a.status_code FROM notification_attempts a JOIN notification_deliveries d ON d.id = a.delivery_id
                    WHERE d.event_id = $1 ORDER BY a.attempt
                    """, [event.id]).rows.map { "\(try $0.decode("outcome", as: String.self)) \(try $0.decode("status_code", as: Int.self))" }
            }
            #expect(attempts == ["retry 500", "retry 500", "retry 500", "delivered 200"])
            try await Self.stop(node)
        }

        /// A redirect is not followed: AsyncHTTPClient would turn the POST into a GET without the body (and take the
        /// signature to another URL), so a 3xx is a failed attempt, retried like a 5xx.
        @Test func aRedirectIsNotFollowedButRetried() async throws {
            let f = try await Self.fixture()
            defer { Task { await f.pool.shutdown() } }
            let sink = try await WebhookSink { _, nth in (nth == 1 ? 302 : 200, nil, .zero) }
            defer { sink.stop() }
            let hook = "moved-\(UUID().uuidString.prefix(8))"
            let p = try await Self.partner(f, webhook: sink.url(hook))
            let event = try await Self.outcome(f, partner: p.id, completed: true)
            let node = try await Self.node("n1", f)
            defer { node.kill() }
            try await Self.publish([event])
            try await eventually("delivered") { try await Self.deliveries(f, event: event.id).first.map { $0.status != "pending" && $0.status != "retrying" } ?? false }
            #expect(try await Self.deliveries(f, event: event.id).first.map { "\($0.status) \($0.attempts)" } == "delivered 2")
            #expect(sink.requests(hook).count == 2 && sink.requests("\(hook)-moved").isEmpty)
            try await Self.stop(node)
        }

        @Test func aReceiverDownLongerThanTheLimitEndsFailedWithAnAlert() async throws {
            let f = try await Self.fixture(retryFor: "2s")
            defer { Task { await f.pool.shutdown() } }
            let closed = "http://127.0.0.1:\(try FreePort.pick(in: 30_000...39_999))/hook/down"
            let p = try await Self.partner(f, webhook: closed)
            let event = try await Self.outcome(f, partner: p.id, completed: false)
            let node = try await Self.node("n1", f)
            defer { node.kill() }
            try await Self.publish([event])
            try await eventually("the delivery failed for good") { try await Self.deliveries(f, event: event.id).first?.status == "failed" }
            #expect(try await Self.deliveries(f, event: event.id).first!.attempts >= 2, "retried before giving up")
            try await eventually("the alert emailed to the operators") {
                try Mailbox.messages(to: f.opsEmail).contains { $0.contains("Subject: Troupe alert: notification.failed") && $0.contains(event.id.lowercasedString) }
            }
            try await Self.stop(node)
        }

        @Test func twoInstancesRacingOnRedeliveredEventsDeliverEachOnce() async throws {
            let f = try await Self.fixture()
            defer { Task { await f.pool.shutdown() } }
            let sink = try await WebhookSink()
            defer { sink.stop() }
            let hook = "race-\(UUID().uuidString.prefix(8))"
            let p = try await Self.partner(f, webhook: sink.url(hook))
            var events: [Envelope] = []
            for i in 0..<20 { events.append(try await Self.outcome(f, partner: p.id, completed: i % 2 == 0)) }
            let n1 = try await Self.node("n1", f), n2 = try await Self.node("n2", f)
            defer { n1.kill(); n2.kill() }
            try await Self.publish(events + events + events)                   // every event three times, to both
            try await eventually("every event delivered") { Set(sink.requests(hook).compactMap(\.eventID)).count == 20 }
            try await Self.stop(n1, n2)
            #expect(sink.requests(hook).count == 20, "each once")
        }

        @Test func aSlowReceiverDoesNotDelayAnotherPartnersWebhook() async throws {
            let f = try await Self.fixture()
            defer { Task { await f.pool.shutdown() } }
            let slow = "slow-\(UUID().uuidString.prefix(8))", fast = "fast-\(UUID().uuidString.prefix(8))"
            let sink = try await WebhookSink { name, _ in (200, nil, name == slow ? .seconds(3) : .zero) }
            defer { sink.stop() }
            let a = try await Self.partner(f, webhook: sink.url(slow)), b = try await Self.partner(f, webhook: sink.url(fast))
            var backlog: [Envelope] = []
            for _ in 0..<8 { backlog.append(try await Self.outcome(f, partner: a.id, completed: true)) }
            let other = try await Self.outcome(f, partner: b.id, completed: true)
            let node = try await Self.node("n1", f)
            defer { node.kill() }
            try await Self.publish(backlog)
            try await eventually("the slow receiver holding requests") { sink.requests(slow).count >= 4 }
            try await Self.publish([other])
            try await eventually("the other partner's webhook", timeout: .seconds(10)) { sink.requests(fast).count == 1 }
            #expect(sink.answered(slow) == 0, "it came while every request to the slow receiver was still held")
            try await eventually("the slow backlog delivered", timeout: .seconds(30)) { sink.requests(slow).count == 8 && sink.answered(slow) == 8 }
            try await Self.stop(node)
        }

        /// Claims wait for a few free slots, so that a busy sender makes one query for many sends; slow
        /// receivers keeping most slots must not hold the others' webhooks back until they answer.
        @Test func slowReceiversKeepingMostSlotsDoNotHoldBackAnotherPartner() async throws {
            let f = try await Self.fixture(concurrency: 10)
            defer { Task { await f.pool.shutdown() } }
            let slowA = "slowa-\(UUID().uuidString.prefix(8))", slowB = "slowb-\(UUID().uuidString.prefix(8))", fast = "fast-\(UUID().uuidString.prefix(8))"
            let sink = try await WebhookSink { name, _ in (200, nil, name == fast ? .zero : .seconds(4)) }
            defer { sink.stop() }
            let a = try await Self.partner(f, webhook: sink.url(slowA)), b = try await Self.partner(f, webhook: sink.url(slowB))
            let c = try await Self.partner(f, webhook: sink.url(fast))
            var backlog: [Envelope] = []
            for _ in 0..<4 { backlog.append(try await Self.outcome(f, partner: a.id, completed: true)) }
            for _ in 0..<2 { backlog.append(try await Self.outcome(f, partner: b.id, completed: true)) }
            let other = try await Self.outcome(f, partner: c.id, completed: true)
            let node = try await Self.node("n1", f)
            defer { node.kill() }
            try await Self.publish(backlog)
            try await eventually("six requests held by the slow receivers") { sink.requests(slowA).count == 4 && sink.requests(slowB).count == 2 }
            try await Self.publish([other])                    // 4 of 10 slots free
            try await eventually("the other partner's webhook", timeout: .seconds(10)) { sink.requests(fast).count == 1 }
            #expect(sink.answered(slowA) == 0 && sink.answered(slowB) == 0, "it came while the slow receivers still held every request")
            try await eventually("the slow ones delivered", timeout: .seconds(30)) { sink.answered(slowA) == 4 && sink.answered(slowB) == 2 }
            try await Self.stop(node)
        }
    }
}
