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
    /// The HTTP edge of a real `troupe node` process, against the project's PostgreSQL and RabbitMQ.
    @Suite(.serialized) struct EdgeTests {
        static let amqpURL = NodeRuntimeTests.amqpURL
        static let databaseURL = NodeRuntimeTests.databaseURL
        static let secret = "edge-test-secret-0123456789"
        static let adminToken = "edge-test-admin-token-42"

        /// A running edge node, a product and two partners with keys.
        struct Fixture {
            let node: NodeProcess
            let base: URL
            let pool: PostgresPool
            let sku: String
            let key: String, otherKey: String
            let partner: UUID
        }

        /// - Parameter withoutOrderQueue: delete `troupe.order-queue` first, as on a broker where no node hosting
        ///   OrderQueue has run yet (the edge node here hosts Analytics only).
        /// - Parameter settings: more top-level members of topology.json (`"analytics": {...},`), ending in a comma.
        static func start(withoutOrderQueue: Bool = false, settings: String = "") async throws -> Fixture {
            if withoutOrderQueue { try AMQPConnection(url: AMQPURL(amqpURL)).deleteQueue(WireTopology.queue("order-queue")) }
            let port = try FreePort.pick(in: 20_000...29_999)
            let path = try CLI.writeTopology("""
                { "broker": { "url": "\(amqpURL)" }, "database": { "url": "\(databaseURL)" }, "security": { "apiKeySecret": "\(secret)", "adminToken": "\(adminToken)" }, \(settings)
                  "nodes": [ { "name": "edge", "http": { "host": "127.0.0.1", "port": \(port) }, "components": [ { "name": "analytics" } ] },
                             { "name": "rest", "components": [ { "name": "order-queue" }, { "name": "inventory" }, { "name": "payment" },
                                                               { "name": "brand-sync" }, { "name": "notification" } ] } ] }
                """)
            let node = try NodeProcess(["node", "edge", "--topology", path], environment: NodeRuntimeTests.env)
            let base = URL(string: "http://127.0.0.1:\(port)")!
            try await node.eventually("the edge answering /health") { (try? await get(base.appendingPathComponent("health")).status) == 200 }
            let pool = PostgresPool(.init(url: databaseURL, size: 2))
            let sku = "TEST-\(UUID().uuidString.prefix(8))"
            try await pool.withConnection { db in
                try db.query("""
                    INSERT INTO products (internal_id, sku, name, brand, currency, min_face_value, max_face_value)
                    VALUES ($1, $1, 'Test card', 'Test', 'USD', 5, 500)
                    """, [sku])
            }
            let registry = PartnerRegistry(pool: pool, keySecret: secret)
            let a = try await registry.add(name: "edge-a-\(UUID().uuidString.prefix(8))", wallet: 1000, pricePercent: Decimal(string: "97.5")!)
            let b = try await registry.add(name: "edge-b-\(UUID().uuidString.prefix(8))", wallet: 0, pricePercent: 100)
            return Fixture(node: node, base: base, pool: pool, sku: sku, key: a.key.text, otherKey: b.key.text, partner: a.id)
        }

        static func stop(_ f: Fixture) async {
            f.node.signal(SIGTERM)
            _ = try? await f.node.waitForExit(timeout: .seconds(10))
            f.node.kill()
            await f.pool.shutdown()
        }

        /// The envelopes about `orderId` the edge's relay published, taken from the order queue (no node of
        /// these tests consumes it; what else it holds is taken too); waits for the first, then for the
        /// relay to have nothing left, so a second one would be seen.
        static func published(about orderId: String) async throws -> [Envelope] {
            let broker = try AMQPConnection(url: AMQPURL(amqpURL))
            let pool = PostgresPool(.init(url: databaseURL, size: 1))
            defer { Task { await pool.shutdown() } }
            var found: [Envelope] = []
            func take() throws {
                while let delivery = try broker.get(queue: WireTopology.queue("order-queue")) {
                    try broker.ack(delivery.tag)
                    if let e = try? Envelope.decode(delivery.message.body), e.payload["orderId"] == .string(orderId) { found.append(e) }
                }
            }
            try await eventually("an envelope about order \(orderId) on the order queue") {
                try take()
                return !found.isEmpty
            }
            try await eventually("an empty outbox") {
                try await pool.withConnection { try $0.query("SELECT count(*) AS n FROM troupe_outbox").rows[0].decode("n", as: Int.self) } == 0
            }
            try take()
            return found
        }

        struct Reply: Sendable { let status: Int; let json: JSONValue; let correlation: String?; var retryAfter: String? = nil }

        static func get(_ url: URL, key: String? = nil) async throws -> Reply {
            var request = URLRequest(url: url)
            if let key { request.setValue(key, forHTTPHeaderField: "x-api-key") }
            return try await send(request)
        }

        static func post(_ f: Fixture, _ body: String, key: String? = nil, correlation: String? = nil) async throws -> Reply {
            var request = URLRequest(url: f.base.appendingPathComponent("api/orders"))
            request.httpMethod = "POST"
            request.httpBody = Data(body.utf8)
            request.setValue("application/json", forHTTPHeaderField: "content-type")
            if let key = key ?? Optional(f.key), !key.isEmpty { request.setValue(key, forHTTPHeaderField: "x-api-key") }
            if let correlation { request.setValue(correlation, forHTTPHeaderField: "x-correlation-id") }
            return try await send(request)
        }

        static func send(_ request: URLRequest) async throws -> Reply {
            let (data, response) = try await URLSession.shared.data(for: request)
            let http = response as! HTTPURLResponse
            return Reply(status: http.statusCode, json: (try? JSONValue(parsing: Array(data))) ?? .null,
                         correlation: http.value(forHTTPHeaderField: "x-correlation-id"), retryAfter: http.value(forHTTPHeaderField: "retry-after"))
        }

        static func order(_ f: Fixture, ref: String, face: String = "25", quantity: Int = 2) -> String {
            #"{"referenceId": "\#(ref)", "sku": "\#(f.sku)", "faceValue": \#(face), "quantity": \#(quantity)}"#
        }

        @Test func anOrderIsAcceptedPricedAndWrittenWithItsEnvelope() async throws {
            let f = try await Self.start(withoutOrderQueue: true)   // its order.created must not be routed nowhere
            defer { f.node.kill() }
            let r = try await Self.post(f, Self.order(f, ref: "r-1"), correlation: "req-edge-1")
            #expect(r.status == 202)
            #expect(r.correlation == "req-edge-1")
            #expect(r.json["status"] == .string("Processing"))
            #expect(r.json["unitPrice"] == .number(24.38), "97.5% of 25, to the cent")
            #expect(r.json["total"] == .number(48.76))
            #expect(r.json["referenceId"] == .string("r-1"))
            guard case .string(let id) = r.json["id"] else { Issue.record("no id: \(r.json)"); return }

            let published = try await Self.published(about: id)
            #expect(published.count == 1)
            #expect(published.first?.topic == "order.created")
            #expect(published.first?.correlationId == "req-edge-1")
            #expect(published.first?.producerId == "order-queue")
            let own = try await Self.get(f.base.appendingPathComponent("api/orders/\(id)"), key: f.key)
            #expect(own.status == 200)
            #expect(own.json["id"] == .string(id))
            #expect(try await Self.get(f.base.appendingPathComponent("api/orders/\(id)"), key: f.otherKey).status == 404, "another partner's order")
            #expect(try await Self.get(f.base.appendingPathComponent("api/orders/not-a-uuid"), key: f.key).status == 404)
            let generated = try await Self.post(f, Self.order(f, ref: "r-2"))
            #expect(generated.correlation?.hasPrefix("req-") == true, "made up when not given")

            let (data, _) = try await URLSession.shared.data(from: f.base.appendingPathComponent("metrics"))
            let metrics = String(decoding: data, as: UTF8.self)
            #expect(metrics.contains(#"http_request_count{method="POST",path="/api/orders",status="202"} 2"#), "\(metrics)")
            #expect(metrics.contains(#"http_request_count{method="GET",path="/api/orders/{id}",status="404"} 2"#))
            #expect(metrics.contains(#"http_response_duration_seconds_count{method="POST",path="/api/orders"} 2"#))
            #expect(metrics.contains(#"troupe_queue_messages{component="order-queue"}"#))
            #expect(metrics.contains("troupe_outbox_pending "))
            #expect(metrics.contains("troupe_publish_confirms_total "))
            await Self.stop(f)
            #expect(f.node.exitCode == 0)
        }

        @Test func theSameReferenceIdReturnsTheSameOrderAndConcurrentDuplicatesCreateOne() async throws {
            let f = try await Self.start()
            defer { f.node.kill() }
            let first = try await Self.post(f, Self.order(f, ref: "dup-1"))
            let again = try await Self.post(f, Self.order(f, ref: "dup-1"))
            #expect(first.status == 202 && again.status == 202)
            #expect(first.json["id"] == again.json["id"])
            let different = try await Self.post(f, Self.order(f, ref: "dup-1", quantity: 3))
            #expect(different.status == 409)
            #expect(different.json["error"]?["code"] == .string("conflict"))

            let replies = try await withThrowingTaskGroup(of: Reply.self) { group in
                for _ in 0..<12 { group.addTask { try await Self.post(f, Self.order(f, ref: "dup-2")) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(replies.allSatisfy { $0.status == 202 })
            #expect(Set(replies.map { "\($0.json["id"] ?? .null)" }).count == 1, "one order for all of them")
            let id = try await f.pool.withConnection { db in
                let orders = try db.query("SELECT id FROM orders WHERE partner_id = $1 AND reference_id = 'dup-2'", [f.partner]).rows
                #expect(orders.count == 1)
                return try orders[0].decode("id", as: UUID.self)
            }
            #expect(try await Self.published(about: id.lowercasedString).count == 1, "one order.created")
            await Self.stop(f)
        }

        @Test func badBodiesAndKeysGetJSONErrorsNamingTheField() async throws {
            let f = try await Self.start()
            defer { f.node.kill() }
            let cases: [(String, Int, String)] = [
                ("{", 400, "the body is not valid JSON"),
                ("[1]", 400, "the body must be a JSON object"),
                (#"{"referenceId": "x", "faceValue": 10, "quantity": 1}"#, 400, "sku: is required"),
                (#"{"referenceId": "x", "sku": "\#(f.sku)", "faceValue": "10", "quantity": 1}"#, 400, "faceValue: must be a number"),
                (#"{"referenceId": "x", "sku": "\#(f.sku)", "faceValue": 10, "quantity": 1, "colour": "red"}"#, 400, "colour: unknown field"),
                (#"{"referenceId": "x", "sku": "\#(f.sku)", "faceValue": 10, "quantity": 0}"#, 422, "quantity: must be a whole number from 1 to 100"),
                (#"{"referenceId": "x", "sku": "\#(f.sku)", "faceValue": 10.005, "quantity": 1}"#, 422, "faceValue: must have at most 2 decimals"),
                (#"{"referenceId": "x", "sku": "\#(f.sku)", "faceValue": 1000, "quantity": 1}"#, 422, "faceValue: must be from 5.00 to 500.00"),
                (#"{"referenceId": "x", "sku": "NO-SUCH", "faceValue": 10, "quantity": 1}"#, 422, "sku: unknown product 'NO-SUCH'"),
                (#"{"referenceId": "", "sku": "\#(f.sku)", "faceValue": 10, "quantity": 1}"#, 422, "referenceId: must be 1 to 100 bytes of UTF-8"),
                // Issue 16 §6: limits count bytes (34 x 3 bytes), NUL is refused, never cut at it.
                (#"{"referenceId": "\#(String(repeating: "€", count: 34))", "sku": "\#(f.sku)", "faceValue": 10, "quantity": 1}"#, 422,
                 "referenceId: must be 1 to 100 bytes of UTF-8"),
                (#"{"referenceId": "a\u0000b", "sku": "\#(f.sku)", "faceValue": 10, "quantity": 1}"#, 400, "referenceId: must not contain NUL"),
            ]
            for (body, status, message) in cases {
                let r = try await Self.post(f, body)
                #expect(r.status == status, "\(body) -> \(r.status) \(r.json)")
                guard case .string(let text)? = r.json["error"]?["message"] else { Issue.record("no JSON error for \(body): \(r.json)"); continue }
                #expect(text.contains(message), "\(body): \(text)")
                #expect(r.json["error"]?["code"] == .string(status == 400 ? "bad_request" : "unprocessable"))
            }
            // The same reference typed with a composed and a decomposed accent is one order, not two.
            let composed = try await Self.post(f, Self.order(f, ref: "caf\u{E9}-1"))
            let decomposed = try await Self.post(f, Self.order(f, ref: "cafe\u{301}-1"))
            #expect(composed.status == 202 && decomposed.status == 202, "\(composed.status) \(decomposed.status)")
            #expect(composed.json["id"] != nil && composed.json["id"] == decomposed.json["id"])
            let big = try await Self.post(f, #"{"referenceId": ""# + String(repeating: "x", count: 70_000) + #""}"#)
            #expect(big.status == 413)
            #expect(big.json["error"]?["code"] == .string("payload_too_large"))
            let missing = try await Self.post(f, Self.order(f, ref: "k-1"), key: "")
            #expect(missing.status == 401)
            #expect(missing.json["error"]?["message"] == .string("the x-api-key header is missing"))
            let wrong = try await Self.post(f, Self.order(f, ref: "k-1"), key: "tk_not-a-real-key")
            #expect(wrong.status == 401)
            #expect(wrong.json["error"]?["code"] == .string("unauthorized"))
            await Self.stop(f)
        }

        @Test func aPartnerReadsItsBalanceAndLedgerNewestFirstAPageAtATime() async throws {
            let f = try await Self.start()
            defer { f.node.kill() }
            // the initial top-up of 1000, then four more entries of the partner's (as the saga writes them)
            try await f.pool.transaction { db in
                for (i, (kind, amount)) in [("debit", "-48.76"), ("refund", "48.76"), ("debit", "-10.00"), ("topup", "5.25")].enumerated() {
                    try db.query("INSERT INTO wallet_entries (partner_id, kind, amount, idempotency_key, order_id) VALUES ($1, $2, $3::numeric, $4, $5)",
                                 [f.partner, kind, amount, "wallet-test-\(UUID()):\(i)", kind == "topup" ? nil : UUID.v7()])
                }
                try db.query("UPDATE wallets SET balance = balance - 4.75 WHERE partner_id = $1", [f.partner])
            }
            func page(_ query: String, key: String? = nil) async throws -> Reply {
                try await Self.get(URL(string: f.base.absoluteString + "/api/wallet" + query)!, key: key ?? f.key)
            }
            let first = try await page("?limit=2")
            #expect(first.status == 200, "\(first.json)")
            #expect(first.json["balance"] == .number(995.25))
            guard case .array(let newest)? = first.json["entries"] else { Issue.record("no entries: \(first.json)"); return }
            #expect(newest.map { $0["kind"] } == [.string("topup"), .string("debit")] && newest.map { $0["amount"] } == [.number(5.25), .number(-10)])
            #expect(newest[1]["orderId"] != .null && newest[0]["orderId"] == .null)
            guard case .number(let cursor)? = first.json["next"] else { Issue.record("no next: \(first.json)"); return }
            let rest = try await page("?limit=2&before=\(Int(cursor))")
            let last = try await page("?before=\(Int(cursor))")
            guard case .array(let older)? = last.json["entries"] else { Issue.record("no entries: \(last.json)"); return }
            #expect(older.map { $0["kind"] } == [.string("refund"), .string("debit"), .string("topup")], "the rest, down to the initial top-up")
            #expect(older.last?["amount"] == .number(1000) && last.json["next"] == .null)
            #expect(rest.json["next"] != .null, "two of three: more to come")
            // another partner sees its own wallet only; no key, no wallet
            let other = try await page("", key: f.otherKey)
            #expect(other.json["balance"] == .number(0) && other.json["entries"] == .array([]))
            #expect(try await Self.get(URL(string: f.base.absoluteString + "/api/wallet")!).status == 401)
            for (query, field) in [("?limit=0", "limit: '0'"), ("?limit=201", "limit: '201'"), ("?limit=x", "limit: 'x'"), ("?before=-3", "before: '-3'")] {
                let bad = try await page(query)
                guard case .string(let message)? = bad.json["error"]?["message"] else { Issue.record("\(query): \(bad.json)"); continue }
                #expect(bad.status == 400 && message.contains(field), "\(query): \(message)")
            }
            await Self.stop(f)
        }

        @Test func theAdminRedriveNeedsTheAdminTokenAndQueuesTheRange() async throws {
            let f = try await Self.start()
            defer { f.node.kill() }
            func redrive(_ token: String?, _ body: String) async throws -> Reply {
                var request = URLRequest(url: f.base.appendingPathComponent("api/orderqueue/queue-by-date-range"))
                request.httpMethod = "POST"
                request.httpBody = Data(body.utf8)
                if let token { request.setValue(token, forHTTPHeaderField: "x-admin-token") }
                return try await Self.send(request)
            }
            let range = #"{"from": "2020-01-01T00:00:00Z", "to": "2020-01-02T00:00:00Z"}"#
            #expect(try await redrive(nil, range).status == 401)
            #expect(try await redrive("wrong-token-wrong-token", range).status == 401)
            #expect(try await redrive(f.key, range).status == 401, "a partner's key is not an admin token")
            let bad = try await redrive(Self.adminToken, #"{"from": "yesterday", "to": "2020-01-02T00:00:00Z"}"#)
            #expect(bad.status == 422)
            #expect(bad.json["error"]?["message"] == .string("from: 'yesterday' is not an ISO 8601 time"))
            let ok = try await redrive(Self.adminToken, range)
            #expect(ok.status == 202)
            #expect(ok.json["queued"] == .number(0), "no order of 2020 to re-drive")
            await Self.stop(f)
        }
    }
}
