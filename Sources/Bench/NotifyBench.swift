import ActorRuntime
import Bridges
import Domain
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Synchronization

/// `troupe-bench notify`: `order.completed` events published to the broker until each is a signed webhook
/// received by a local sink and logged `delivered`, through a real Notification node; against
/// `amqp.e2e_inbox` (publish, consume, inbox, commit, ack) of the same run.
enum NotifyBench {
    static let env = ProcessInfo.processInfo.environment
    static let events = max(500, Int(env["BENCH_NOTIFY_EVENTS"] ?? "") ?? 20_000)
    /// Partners, each with its own webhook URL (a node sends at most 4 at once to one recipient).
    static let partners = 64
    /// Events published and not yet received as webhooks, at most (`BENCH_NOTIFY_WINDOW`).
    static let window = max(500, Int(env["BENCH_NOTIFY_WINDOW"] ?? "") ?? 4_000)

    struct Failure: Error, CustomStringConvertible { let description: String }

    final class Flag: Sendable {
        let raised = Atomic<Bool>(false)
    }

    final class Sink: Sendable {
        let received = Atomic<Int>(0)
        let verified = Atomic<Int>(0)
        let forged = Atomic<Int>(0)
        let secrets = Mutex<[String: String]>([:])
    }

    @Sendable static func run() async throws {
        let inbox = try await AMQPBench.endToEnd()
        let webhooks = try await webhooksPerSecond()
        report("notify.webhooks_per_s", webhooks, "webhooks/s")
        report("notify.vs_e2e_inbox", webhooks / inbox, "ratio")
    }

    static func webhooksPerSecond() async throws -> Double {
        let sink = Sink(), port = try HTTPLoad.freePort()
        let router = Router()
        router.post("/hook/:partner") { request, context -> Response in
            let body = Array(buffer: try await request.body.collect(upTo: 64 * 1024))
            let n = sink.received.add(1, ordering: .relaxed).newValue
            if n % 50 == 0 {                                   // a sample is checked: signed with the partner's secret
                let secret = sink.secrets.withLock { $0[context.parameters.get("partner") ?? ""] } ?? ""
                let valid = WebhookSignature.verify(request.headers[HTTPField.Name("troupe-signature")!] ?? "", body: body, secret: secret)
                if valid { sink.verified.add(1, ordering: .relaxed) } else { sink.forged.add(1, ordering: .relaxed) }
            }
            return Response(status: .ok)
        }
        router.get("/health") { _, _ in "ok" }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: HTTPLoad.quietLogger)
        let server = Task { try await app.runService(gracefulShutdownSignals: []) }
        defer { server.cancel() }
        try await HTTPLoad.awaitReady(host: "127.0.0.1", port: port, path: "/health")

        let pool = PostgresPool(.init(url: BenchNode.databaseURL, size: 2, applicationName: "troupe-bench notify"))
        defer { Task { await pool.shutdown() } }
        _ = try await Migrator(pool: pool, migrations: DomainSchema.allMigrations()).run()
        let run = String(UUID.v7().lowercasedString.suffix(10))
        let registry = PartnerRegistry(pool: pool, keySecret: "bench-api-key-secret-0123456789")
        var partnerIDs: [UUID] = []
        for i in 0..<partners {
            let p = try await registry.add(name: "notify-\(run)-\(i)", wallet: 0, pricePercent: 100)
            let secret = try await registry.setWebhook(partner: p.name, url: "http://127.0.0.1:\(port)/hook/\(i)", vault: .development)
            sink.secrets.withLock { $0["\(i)"] = secret }
            partnerIDs.append(p.id)
        }
        let sku = "NOTIFY-\(run)"
        let orders: [(UUID, UUID)] = try await pool.transaction { [partnerIDs] db in
            try db.query("INSERT INTO products (internal_id, sku, name, brand, currency, min_face_value, max_face_value) VALUES ($1, $1, 'Card', 'Bench', 'USD', 5, 500)", [sku])
            return try db.query("""
                INSERT INTO orders (id, partner_id, reference_id, product_id, sku, face_value, quantity, unit_price, total, currency, status, step, correlation_id)
                SELECT gen_random_uuid(), ($2::uuid[])[1 + i % \(partners)], 'nb-' || $3 || '-' || i, p.id, p.sku, 5, 1, 5, 5, 'USD', 'Completed', 'completed', 'req-bench'
                FROM generate_series(0, $4 - 1) i, products p WHERE p.sku = $1
                RETURNING id, partner_id
                """, [sku, PostgresArray(partnerIDs), run, events]).rows.map { (try $0.decode("id"), try $0.decode("partner_id")) }
        }
        try await AMQPBench.admin { c in
            try WireTopology().declare(component: "notification", topics: Notification.topics, on: c)
            try c.purge("troupe.notification")
        }
        // the log's rows of this run come after it (counted by the primary key, not a scan of every run's)
        let before: Int64 = try await pool.withConnection { try $0.query("SELECT coalesce(max(id), 0) AS id FROM notification_deliveries").rows[0].decode("id") }
        let node = try BenchNode.start("notify", settings: "", nodes: """
            [ { "name": "notify", "components": [ { "name": "notification" } ] },
              { "name": "rest", "components": [ { "name": "order-queue" }, { "name": "inventory" }, { "name": "payment" },
                                                { "name": "brand-sync" }, { "name": "analytics" } ] } ]
            """)
        // Analytics, which the shipped topology binds to every event, does not run here: its queue is emptied
        // while the bench runs. Left to grow to the run's 20,000+ messages (a consumer in production keeps it
        // near empty), it cost RabbitMQ 170 us of CPU per event, against 50 in the e2e baseline.
        let measured = Flag()
        let purger = Task {
            try await AMQPBench.admin { c in
                while !measured.raised.load(ordering: .relaxed) {
                    _ = try c.purge(WireTopology.queue(Component.analytics.rawValue))
                    usleep(100_000)
                }
            }
        }
        return try await withCleanup {
            try await node.started()
            let publisher = try AMQPPublisher(url: BenchNode.amqpURL, name: "bench-notify") { try WireTopology().declareExchange(on: $0) }
            let envelopes = orders.map { order, partner in
                Envelope(topic: SagaTopic.orderCompleted, producerId: "order-queue", correlationId: "req-bench", payload: .object([
                    "orderId": .string(order.lowercasedString), "partnerId": .string(partner.lowercasedString), "productId": .number(1),
                    "quantity": .number(1), "faceValue": .number(5), "total": .number(5)]))
            }
            // Published in chunks of 500 while at most `window` events are on their way (published, no webhook
            // yet): as the e2e baseline's consumer keeps up with its publisher, the broker here holds a few
            // thousand messages, not the whole run (a queue 20,000 deep cost RabbitMQ 4-5 times the CPU per
            // message, 240 us against 54, taken from the node and PostgreSQL on these two cores).
            let start = ContinuousClock.now, finish = ContinuousClock.now + .seconds(300)
            for chunk in stride(from: 0, to: envelopes.count, by: 500) {
                while chunk - sink.received.load(ordering: .relaxed) > window {
                    guard ContinuousClock.now < finish else { throw Failure(description: "\(chunk - sink.received.load(ordering: .relaxed)) webhooks outstanding after 300 s") }
                    try await Task.sleep(for: .milliseconds(2))
                }
                try await publisher.publish(envelopes[chunk..<min(chunk + 500, envelopes.count)].map { ("troupe.events", $0.topic, OutboxRelay.message($0)) })
            }
            // Every webhook received (counted in memory), then every one logged delivered (a query, so it is
            // asked only then: counting the log all along took a database core from the node it measures).
            while sink.received.load(ordering: .relaxed) < events {
                guard ContinuousClock.now < finish else { throw Failure(description: "\(events - sink.received.load(ordering: .relaxed)) webhooks not received after 300 s") }
                try await Task.sleep(for: .milliseconds(5))
            }
            while try await pool.withConnection({ [partnerIDs] db in
                try db.query("SELECT count(*) AS n FROM notification_deliveries WHERE id > $1 AND partner_id = ANY($2::uuid[]) AND status = 'delivered'",
                             [before, PostgresArray(partnerIDs)]).rows[0].decode("n", as: Int.self)
            }) < events {
                guard ContinuousClock.now < finish else { throw Failure(description: "webhooks not logged delivered after 300 s") }
                try await Task.sleep(for: .milliseconds(20))
            }
            let rate = Double(events) / seconds(since: start)
            await publisher.close()
            guard sink.forged.load(ordering: .relaxed) == 0, sink.verified.load(ordering: .relaxed) > 0 else {
                throw Failure(description: "\(sink.forged.load(ordering: .relaxed)) webhooks of the sample did not verify")
            }
            return rate
        } cleanup: {
            measured.raised.store(true, ordering: .relaxed)
            _ = try? await purger.value
            await node.stop()
        }
    }
}
