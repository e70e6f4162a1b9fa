import ActorRuntime
import ActorRuntimeTesting
import Bridges
import Domain
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

fileprivate typealias EdgeTests = ComponentQueues.EdgeTests
fileprivate typealias NodeRuntimeTests = ComponentQueues.NodeRuntimeTests

/// Issue 19 §2: wallet top-ups through the payment provider simulator, against an edge node of its own (a
/// schema of its own), the real database and broker.
@Suite(.serialized) struct TopUpTests {
    static let webhookSecret = "whsec_topup_tests_0123456789"
    static let secretKey = "sk_test_topup_tests"

    struct Fixture {
        let db: PrivateSchema
        let provider: URL
        let edge: URL
        let simulator: NodeProcess
        let node: NodeProcess
        let partner: UUID
        let key: String

        func balance() async throws -> Decimal { try await db.scalar("SELECT balance AS v FROM wallets WHERE partner_id = $1", [partner]) }

        /// `POST /v1/payments/create-intent` with `amount` and an `Idempotency-Key`.
        fileprivate func createIntent(_ body: String, idempotencyKey: String?) async throws -> (EdgeTests.Reply, replayed: Bool) {
            var request = URLRequest(url: edge.appendingPathComponent("v1/payments/create-intent"))
            request.httpMethod = "POST"
            request.httpBody = Data(body.utf8)
            request.setValue(key, forHTTPHeaderField: "x-api-key")
            if let idempotencyKey { request.setValue(idempotencyKey, forHTTPHeaderField: "Idempotency-Key") }
            let (data, response) = try await URLSession.shared.data(for: request)
            let http = response as! HTTPURLResponse
            return (EdgeTests.Reply(status: http.statusCode, json: (try? JSONValue(parsing: Array(data))) ?? .null, correlation: nil),
                    http.value(forHTTPHeaderField: "idempotent-replayed") == "true")
        }

        /// Tells the simulator to settle an intent (`deliveries` copies of its event).
        func settle(_ intent: String, _ verb: String, deliveries: Int = 1) async throws {
            var request = URLRequest(url: provider.appendingPathComponent("sim/intents/\(intent)/\(verb)"))
            request.httpMethod = "POST"
            request.httpBody = Data(#"{"deliveries": \#(deliveries)}"#.utf8)
            #expect(try await EdgeTests.send(request).status == 200)
        }

        func stats(_ key: String) async throws -> Int {
            let r = try await EdgeTests.send(URLRequest(url: provider.appendingPathComponent("sim/stats")))
            guard case .number(let n)? = r.json[key] else { throw TestKitError("no \(key) in \(r.json)") }
            return Int(n)
        }

        /// Posts `body` to the webhook as the provider would, with `signature` as its Stripe-Signature.
        fileprivate func webhook(_ body: String, signature: String?) async throws -> EdgeTests.Reply {
            var request = URLRequest(url: edge.appendingPathComponent("v1/webhooks/payments"))
            request.httpMethod = "POST"
            request.httpBody = Data(body.utf8)
            if let signature { request.setValue(signature, forHTTPHeaderField: "Stripe-Signature") }
            return try await EdgeTests.send(request)
        }

        func stop() async {
            node.signal(SIGTERM)
            _ = try? await node.waitForExit(timeout: .seconds(15))
            node.kill()
            simulator.kill()
            await db.drop()
        }
    }

    static func start() async throws -> Fixture {
        let db = PrivateSchema()
        let providerPort = try FreePort.pick(in: 31_400...32_767), edgePort = try FreePort.pick(in: 30_000...31_399)
        let simulator = try NodeProcess(["--port", "\(providerPort)", "--webhook-url", "http://127.0.0.1:\(edgePort)/v1/webhooks/payments",
                                         "--retry-ms", "200"],
                                        environment: ["PAYMENT_SIM_SECRET_KEY": secretKey, "PAYMENT_SIM_WEBHOOK_SECRET": webhookSecret],
                                        executable: CLI.paymentSimulator)
        try await simulator.waitFor("listening on 127.0.0.1:\(providerPort)")
        let topology = try CLI.writeTopology("""
            { "broker": { "url": "\(EdgeTests.amqpURL)" }, "database": { "url": "\(EdgeTests.databaseURL)", "schema": "\(db.name)" },
              "security": { "apiKeySecret": "\(EdgeTests.secret)", "adminToken": "\(EdgeTests.adminToken)" },
              "paymentProvider": { "url": "http://127.0.0.1:\(providerPort)", "secretKey": "\(secretKey)", "webhookSecret": "\(webhookSecret)" },
              "nodes": [ { "name": "edge", "http": { "host": "127.0.0.1", "port": \(edgePort) }, "components": [] },
                         { "name": "never-started", "components": [ { "name": "order-queue" }, { "name": "inventory" }, { "name": "payment" },
                                                                    { "name": "notification" }, { "name": "analytics" }, { "name": "brand-sync" } ] } ] }
            """)
        let node = try NodeProcess(["node", "edge", "--topology", topology], environment: NodeRuntimeTests.env)
        let edge = URL(string: "http://127.0.0.1:\(edgePort)")!
        try await node.eventually("the edge answering /health") { (try? await EdgeTests.get(edge.appendingPathComponent("health")).status) == 200 }
        let partner = try await PartnerRegistry(pool: db.pool, keySecret: EdgeTests.secret).add(name: "topup-\(db.name)", wallet: 0, pricePercent: 100)
        return Fixture(db: db, provider: URL(string: "http://127.0.0.1:\(providerPort)")!, edge: edge, simulator: simulator, node: node,
                       partner: partner.id, key: partner.key.text)
    }

    /// A provider event for `intent`, as Stripe shapes it.
    static func event(_ id: String, _ type: String, intent: String) -> String {
        #"{"id": "\#(id)", "object": "event", "type": "\#(type)", "data": {"object": {"id": "\#(intent)", "object": "payment_intent", "amount": 10000}}}"#
    }

    @Test func aTopUpCreditsTheWalletOnceHoweverOftenItsWebhookArrivesAndAKeyIsIdempotent() async throws {
        let f = try await Self.start()
        defer { f.node.kill(); f.simulator.kill() }
        let (created, firstReplayed) = try await f.createIntent(#"{"amount": 100}"#, idempotencyKey: "topup-1")
        #expect(created.status == 201 && !firstReplayed, "\(created.json)")
        guard case .string(let intent)? = created.json["intentId"], case .string(let secret)? = created.json["clientSecret"] else {
            Issue.record("no intent: \(created.json)"); await f.stop(); return
        }
        #expect(secret.hasPrefix(intent + "_secret_"), "what the partner needs to pay it")
        let (again, replayed) = try await f.createIntent(#"{"amount": 100.00}"#, idempotencyKey: "topup-1")
        #expect(again.status == 201 && replayed && again.json["intentId"] == .string(intent), "the same key and request: the same intent")
        let (other, _) = try await f.createIntent(#"{"amount": 250}"#, idempotencyKey: "topup-1")
        #expect(other.status == 409, "the same key with another request: \(other.json)")
        #expect(try await f.stats("intents") == 1, "no second intent at the provider")

        // The provider delivers the success three times (one event id): one credit.
        try await f.settle(intent, "succeed", deliveries: 3)
        try await eventually("three deliveries answered") { try await f.stats("deliveriesDelivered") == 3 }
        #expect(try await f.balance() == 100)
        #expect(try await f.db.scalar("SELECT count(*)::int AS v FROM wallet_entries WHERE partner_id = $1 AND kind = 'topup'", [f.partner]) == 1)
        #expect(try await f.db.scalar("SELECT outcome AS v FROM payment_events WHERE intent_id = $1", [intent]) == "credited")
        #expect(try await f.db.scalar("SELECT status AS v FROM payment_intents WHERE id = $1", [intent]) == "succeeded")
        // A second success event for the same intent (another event id): the credit is idempotent on the intent.
        try await f.settle(intent, "succeed")
        try await eventually("the fourth delivery answered") { try await f.stats("deliveriesDelivered") == 4 }
        #expect(try await f.balance() == 100)
        #expect(try await f.db.scalar("SELECT count(*)::int AS v FROM payment_events WHERE intent_id = $1 AND outcome = 'settled'", [intent]) == 1)
        // The ledger says who and why.
        let why: String = try await f.db.scalar("SELECT created_by || ': ' || reason AS v FROM wallet_entries WHERE partner_id = $1", [f.partner])
        #expect(why == "payment provider: top-up, payment intent \(intent)")
        let bad = try await f.createIntent(#"{"amount": 0.001}"#, idempotencyKey: nil).0
        #expect(bad.status == 422 && "\(bad.json)".contains("amount"), "\(bad.json)")
        await f.stop()
    }

    @Test func aFailedPaymentCreditsNothingAndForgedMissingOrStaleSignaturesChangeNothing() async throws {
        let f = try await Self.start()
        defer { f.node.kill(); f.simulator.kill() }
        let (created, _) = try await f.createIntent(#"{"amount": 40}"#, idempotencyKey: nil)
        guard case .string(let intent)? = created.json["intentId"] else { Issue.record("no intent: \(created.json)"); await f.stop(); return }
        try await f.settle(intent, "fail")
        try await eventually("the failure recorded") {
            try await f.db.scalar("SELECT status AS v FROM payment_intents WHERE id = $1", [intent]) == "failed"
        }
        #expect(try await f.db.scalar("SELECT failure_reason AS v FROM payment_intents WHERE id = $1", [intent]) == "Your card was declined.")
        #expect(try await f.balance() == 0, "a failed payment credits nothing")

        // Signed with another secret, not signed, or signed an hour ago: 400, nothing recorded or credited.
        let body = Self.event("evt_forged_1", TopUps.succeeded, intent: intent)
        let forged = WebhookSignature.sign(Array(body.utf8), secret: "whsec_somebody_else_0123456")
        let stale = WebhookSignature.sign(Array(body.utf8), secret: Self.webhookSecret, at: Date().addingTimeInterval(-3600))
        let future = WebhookSignature.sign(Array(body.utf8), secret: Self.webhookSecret, at: Date().addingTimeInterval(3600))
        for signature in [forged, nil, stale, future, "t=1,v1=00"] {
            let r = try await f.webhook(body, signature: signature)
            #expect(r.status == 400 && "\(r.json)".contains("Stripe-Signature"), "\(signature ?? "none"): \(r.json)")
        }
        #expect(try await f.db.scalar("SELECT count(*)::int AS v FROM payment_events WHERE id = 'evt_forged_1'") == 0)
        #expect(try await f.balance() == 0)
        // A body changed after signing is refused too: the signature covers the raw bytes.
        let signed = WebhookSignature.sign(Array(body.utf8), secret: Self.webhookSecret)
        #expect(try await f.webhook(body.replacingOccurrences(of: "10000", with: "99999"), signature: signed).status == 400)
        // Correctly signed, for an intent Troupe never created: recorded, answered 2xx so the provider stops.
        let unknown = Self.event("evt_unknown_1", TopUps.succeeded, intent: "pi_not_ours")
        let r = try await f.webhook(unknown, signature: WebhookSignature.sign(Array(unknown.utf8), secret: Self.webhookSecret))
        #expect(r.status == 200 && r.json["outcome"] == .string("unknown-intent"), "\(r.json)")
        #expect(try await f.db.scalar("SELECT count(*)::int AS v FROM payment_events WHERE id = 'evt_unknown_1'") == 1)
        await f.stop()
    }
}
