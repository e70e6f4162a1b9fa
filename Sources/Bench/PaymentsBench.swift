import ActorRuntime
import Bridges
import Domain
import Foundation
import Hummingbird
import Logging

/// `troupe-bench payments`: signed `payment_intent.succeeded` webhooks POSTed to a real edge node from a
/// concurrent sender on loopback, each verified over its raw body, deduplicated and credited (a distinct
/// intent each, 200 partners' wallets), against a trivial Hummingbird POST route (same server settings,
/// same client) in the same run. Target: webhooks at least 30 % of the baseline.
enum PaymentsBench {
    static let env = ProcessInfo.processInfo.environment
    static let total = max(1000, Int(env["BENCH_WEBHOOKS"] ?? "") ?? 20_000)
    static let clients = max(1, Int(env["BENCH_CONCURRENCY"] ?? "") ?? 16)
    static let partners = 200
    static let secret = "whsec_bench_payments_0123456789"

    @Sendable static func run() async throws {
        let baseline = try await baselineRate()
        report("payments.baseline_post_per_s", baseline, "req/s")
        let (rate, credited) = try await webhookRate()
        report("payments.webhooks_per_s", rate, "req/s")
        report("payments.webhooks_vs_baseline", rate / baseline, "ratio")
        report("payments.credited", Double(credited), "intents")
    }

    static func request(port: Int, body: String, signature: String) -> [UInt8] {
        Array("""
            POST /v1/webhooks/payments HTTP/1.1\r\nhost: 127.0.0.1:\(port)\r\ncontent-type: application/json\r\n\
            stripe-signature: \(signature)\r\ncontent-length: \(body.utf8.count)\r\n\r\n\(body)
            """.utf8)
    }

    static func event(_ i: Int, run: String) -> String {
        #"{"id": "evt_\#(run)_\#(i)", "object": "event", "type": "payment_intent.succeeded", "data": {"object": {"id": "pi_\#(run)_\#(i)", "object": "payment_intent", "amount": 1000, "amount_received": 1000, "currency": "usd", "status": "succeeded"}}}"#
    }

    /// A Hummingbird route that reads the body and answers 200, nothing else.
    static func baselineRate() async throws -> Double {
        let port = try HTTPLoad.freePort()
        let router = Router()
        router.post("/v1/webhooks/payments") { request, _ -> Response in
            _ = try await request.body.collect(upTo: 256 << 10)
            return Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
                            body: ResponseBody(byteBuffer: ByteBuffer(string: #"{"received":true,"outcome":"credited"}"#)))
        }
        router.get("/health") { _, _ in "ok" }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: "troupe"),
                              logger: HTTPLoad.quietLogger)
        let server = Task { try await app.runService(gracefulShutdownSignals: []) }
        defer { server.cancel() }
        try await HTTPLoad.awaitReady(host: "127.0.0.1", port: port, path: "/health")
        let requests = (0..<total).map { i in request(port: port, body: event(i, run: "base"), signature: "t=0,v1=00") }
        _ = try await HTTPLoad.flat(host: "127.0.0.1", port: port, total: total / 10, clients: clients, expect: 200) { requests[$0] }   // warm-up
        return try await HTTPLoad.flat(host: "127.0.0.1", port: port, total: total, clients: clients, expect: 200) { requests[$0] }.perSecond
    }

    /// An edge node of its own; the intents recorded beforehand (as create-intent would), the webhooks
    /// signed beforehand (the sender's cost is not the server's). - Returns: the rate, and the intents credited.
    static func webhookRate() async throws -> (perSecond: Double, credited: Int) {
        let port = try HTTPLoad.freePort()
        let run = UUID().uuidString.prefix(8).lowercased()
        let pool = PostgresPool(.init(url: BenchNode.databaseURL, size: 2))
        let node = try BenchNode.start("edge", settings: """
            "paymentProvider": { "url": "http://127.0.0.1:1", "secretKey": "sk_bench", "webhookSecret": "\(secret)" },
            """, nodes: """
            [ { "name": "edge", "http": { "host": "127.0.0.1", "port": \(port) }, "components": [] },
              { "name": "rest", "components": [ { "name": "order-queue" }, { "name": "inventory" }, { "name": "payment" },
                                                { "name": "brand-sync" }, { "name": "notification" }, { "name": "analytics" } ] } ]
            """)
        return try await withCleanup {
            try await HTTPLoad.awaitReady(host: "127.0.0.1", port: port, path: "/health")
            let registry = PartnerRegistry(pool: pool, keySecret: "bench-api-key-secret-0123456789")
            var wallets: [UUID] = []
            for p in 0..<partners { wallets.append(try await registry.add(name: "bench-pay-\(run)-\(p)", wallet: 0, pricePercent: 100).id) }
            let owners = wallets
            let warm = total / 10
            try await pool.withConnection { db in
                try db.query("""
                    INSERT INTO payment_intents (id, partner_id, amount, currency)
                    SELECT 'pi_' || $1 || '_' || i, ($2::uuid[])[1 + i % $3], 10, 'USD' FROM generate_series(0, $4 - 1) AS i
                    """, [String(run), PostgresArray(owners), owners.count, total + warm])
            }
            let requests = (0..<(total + warm)).map { i -> [UInt8] in
                let body = event(i, run: run)
                return request(port: port, body: body, signature: WebhookSignature.sign(Array(body.utf8), secret: secret))
            }
            _ = try await HTTPLoad.flat(host: "127.0.0.1", port: port, total: warm, clients: clients, expect: 200, what: "the webhook") {
                requests[total + $0]
            }
            let rate = try await HTTPLoad.flat(host: "127.0.0.1", port: port, total: total, clients: clients, expect: 200, what: "the webhook") {
                requests[$0]
            }.perSecond
            let credited: Int = try await pool.withConnection { db in
                try db.query("SELECT count(*)::int AS n FROM payment_intents WHERE id LIKE $1 AND status = 'succeeded'", ["pi_\(run)_%"]).rows[0].decode("n")
            }
            guard credited == total + warm else {
                throw BenchNode.Failure(description: "\(credited) of \(total + warm) intents credited")
            }
            return (rate, credited)
        } cleanup: {
            await node.stop()
            await pool.shutdown()
        }
    }
}
