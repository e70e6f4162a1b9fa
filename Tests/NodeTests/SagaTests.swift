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
    /// The order saga across nodes started by `troupe up` (edge and orders), over the real broker and database.
    @Suite(.serialized) struct SagaTests {
        struct Fixture {
            let up: NodeProcess
            let edge: EdgeTests.Fixture
            let vendor: URL
            /// The topology file's path.
            let topology: String
        }

        /// `troupe up` with an edge node and an orders node; a product with `stock` units.
        /// `troupe up` with the vendor simulator, an edge node and an orders node (vendor breaker: 2 failures,
        /// 2 s cool-down); the simulator's product 1001 with `stock` units; partner a with 100 in its wallet.
        /// `settings`: more top-level keys of the topology (each followed by a comma); `environment`: the nodes'.
        static func start(stock: Int, wallet: Decimal = 100, breakerThreshold: Int = 2, vendorTimeout: String = "10s",
                          reservationTTL: String = "15m", settings: String = "",
                          environment: [String: String] = NodeRuntimeTests.env) async throws -> Fixture {
            let port = try FreePort.pick(in: 30_000...31_399), vendorPort = try FreePort.pick(in: 31_400...32_767)
            let path = try CLI.writeTopology("""
                { "broker": { "url": "\(EdgeTests.amqpURL)" }, "database": { "url": "\(EdgeTests.databaseURL)" },
                  "security": { "apiKeySecret": "\(EdgeTests.secret)" }, "inventory": { "reservationTTL": "\(reservationTTL)" }, \(settings)
                  "vendor": { "url": "http://127.0.0.1:\(vendorPort)", "clientId": "troupe", "clientSecret": "saga-secret",
                              "timeout": "\(vendorTimeout)", "notFoundGrace": "1s",
                              "breaker": { "failureThreshold": \(breakerThreshold), "coolDown": "2s" }, "simulator": { "catalogLimit": 100 } },
                  "nodes": [ { "name": "edge", "http": { "host": "127.0.0.1", "port": \(port) }, "components": [ { "name": "analytics" } ] },
                             { "name": "orders", "components": [ { "name": "order-queue" }, { "name": "inventory" }, { "name": "payment" } ] },
                             { "name": "workers", "components": [ { "name": "brand-sync" }, { "name": "notification" } ] } ] }
                """)
            let up = try NodeProcess(["up", "--topology", path], environment: environment)
            let base = URL(string: "http://127.0.0.1:\(port)")!
            try await up.eventually("the edge answering /health") { (try? await EdgeTests.get(base.appendingPathComponent("health")).status) == 200 }
            try await up.waitFor("node=orders [Node] node started")
            try await up.waitFor("listening on 127.0.0.1:\(vendorPort)")
            let pool = PostgresPool(.init(url: EdgeTests.databaseURL, size: 2))
            let sku = "AMAZON-US-1001"
            try await pool.withConnection { db in
                try db.query("""
                    INSERT INTO products (internal_id, sku, name, brand, country, currency, min_face_value, max_face_value)
                    VALUES ('1001', $1, 'Amazon.com US', 'Amazon', 'US', 'USD', 5, 500) ON CONFLICT (internal_id) DO NOTHING
                    """, [sku])
                try db.query("""
                    INSERT INTO inventory_stock (product_id, available) SELECT id, $2 FROM products WHERE sku = $1
                    ON CONFLICT (product_id) DO UPDATE SET available = EXCLUDED.available
                    """, [sku, stock])
            }
            let registry = PartnerRegistry(pool: pool, keySecret: EdgeTests.secret)
            let a = try await registry.add(name: "saga-a-\(UUID().uuidString.prefix(8))", wallet: wallet, pricePercent: Decimal(string: "97.5")!)
            let b = try await registry.add(name: "saga-b-\(UUID().uuidString.prefix(8))", wallet: 0, pricePercent: 100)
            return Fixture(up: up, edge: EdgeTests.Fixture(node: up, base: base, pool: pool, sku: sku, key: a.key.text, otherKey: b.key.text, partner: a.id),
                           vendor: URL(string: "http://127.0.0.1:\(vendorPort)")!, topology: path)
        }

        /// Checkouts that reached the simulator (placed or answered with a failure).
        static func vendorCalls(_ f: Fixture) async throws -> Int {
            let r = try await EdgeTests.send(URLRequest(url: f.vendor.appendingPathComponent("sim/stats")))
            guard case .number(let n)? = r.json["checkouts"] else { throw TestKitError("no stats: \(r.json)") }
            return Int(n)
        }

        /// Changes the simulator's knobs (e.g. `{"failureRate": 1}`).
        static func vendor(_ f: Fixture, _ json: String) async throws {
            var request = URLRequest(url: f.vendor.appendingPathComponent("sim/config"))
            request.httpMethod = "POST"
            request.httpBody = Data(json.utf8)
            #expect(try await EdgeTests.send(request).status == 200)
        }

        static func stop(_ f: Fixture) async {
            f.up.signal(SIGTERM)
            _ = try? await f.up.waitForExit(timeout: .seconds(15))
            f.up.kill()
            await f.edge.pool.shutdown()
        }

        /// Places an order; returns its id.
        static func place(_ f: Fixture, ref: String, quantity: Int, key: String? = nil) async throws -> UUID {
            let r = try await EdgeTests.post(f.edge, EdgeTests.order(f.edge, ref: ref, quantity: quantity), key: key)
            #expect(r.status == 202, "\(r.json)")
            guard case .string(let text)? = r.json["id"], let id = UUID(text: text) else { throw TestKitError("no order id in \(r.json)") }
            return id
        }

        struct State: Equatable { let status: String; let step: String; let reason: String? }

        static func state(_ f: Fixture, _ id: UUID) async throws -> State {
            try await f.edge.pool.withConnection { db in
                let row = try db.query("SELECT status, step, failure_reason FROM orders WHERE id = $1", [id]).rows[0]
                return State(status: try row.decode("status"), step: try row.decode("step"), reason: try row.decode("failure_reason"))
            }
        }

        static func scalar<T: PostgresDecodable>(_ f: Fixture, _ sql: String, _ parameters: [any PostgresEncodable]) async throws -> T {
            try await f.edge.pool.withConnection { db in try db.query(sql, parameters).rows[0].decode("v") }
        }

        @Test func anOrderCompletesWithTheVendorsCardsStockSoldAndTheWalletDebited() async throws {
            let f = try await Self.start(stock: 10)
            defer { f.up.kill() }
            let id = try await Self.place(f, ref: "s-1", quantity: 2)                   // 2 x 24.38 = 48.76
            try await eventually("the order completed") { try await Self.state(f, id).status == "Completed" }
            #expect(try await Self.state(f, id) == State(status: "Completed", step: "completed", reason: nil))
            let order = try await EdgeTests.get(f.edge.base.appendingPathComponent("api/orders/\(id.lowercasedString)"), key: f.edge.key)
            guard case .array(let cards)? = order.json["cards"] else { Issue.record("no cards: \(order.json)"); return }
            #expect(cards.count == 2)
            #expect(cards.allSatisfy { if case .string(let code)? = $0["CardCode"] { !code.isEmpty } else { false } })
            // Issue 16 §6: at rest the codes are sealed; the API opened them for their partner.
            let stored: String = try await Self.scalar(f, "SELECT cards::text AS v FROM orders WHERE id = $1", [id])
            #expect(stored.contains("sealed") && !stored.contains("CardCode") && !stored.contains("CODE-"), "\(stored)")
            let balance: Decimal = try await Self.scalar(f, "SELECT balance AS v FROM wallets WHERE partner_id = $1", [f.edge.partner])
            #expect(balance == Decimal(string: "51.24"))
            let ledger: Decimal = try await Self.scalar(f, "SELECT sum(amount) AS v FROM wallet_entries WHERE partner_id = $1", [f.edge.partner])
            #expect(ledger == balance, "the balance equals the ledger's sum")
            let available: Int = try await Self.scalar(f, "SELECT s.available AS v FROM inventory_stock s JOIN products p ON p.id = s.product_id WHERE p.sku = $1", [f.edge.sku])
            #expect(available == 8)
            let reservation: String = try await Self.scalar(f, "SELECT status AS v FROM inventory_reservations WHERE order_id = $1", [id])
            #expect(reservation == "confirmed")
            let sold: Int = try await Self.scalar(f, """
                SELECT m.quantity AS v FROM inventory_movements m JOIN inventory_reservations r ON r.id = m.reservation_id WHERE r.order_id = $1
                """, [id])
            #expect(sold == -2)
            // Every node reports its component trees (every 5 s); the edge's /metrics shows all of them.
            try await eventually("the orders node's instances in /metrics") {
                let (data, _) = try await URLSession.shared.data(from: f.edge.base.appendingPathComponent("metrics"))
                let metrics = String(decoding: data, as: UTF8.self)
                return metrics.contains(#"troupe_mailbox_depth{node="orders",component="inventory",actor="/user/inventory/1"} "#)
                    && metrics.contains(#"troupe_instance_messages_handled_total{node="orders",component="order-queue",actor="/user/order-queue/1"} "#)
                    && !metrics.contains(#"troupe_instance_messages_handled_total{node="orders",component="order-queue",actor="/user/order-queue/1"} 0"#)
                    && metrics.contains(#"troupe_actor_restarts_total{node="workers",component="brand-sync",actor="/user/brand-sync/1"} 0"#)
            }
            await Self.stop(f)
        }

        @Test func aVendorFailureRefundsReleasesAndFailsAndTheBreakerOpensThenCloses() async throws {
            let f = try await Self.start(stock: 10)
            defer { f.up.kill() }
            try await Self.vendor(f, #"{"failureRate": 1}"#)
            let first = try await Self.place(f, ref: "v-1", quantity: 1)
            try await eventually("the first order failed") { try await Self.state(f, first).status == "Failed" }
            let failed = try await Self.state(f, first)
            // Its tries failed (500s) until the breaker (threshold 2) opened under them.
            #expect(failed.reason == "vendor unavailable", "\(failed)")
            #expect(try await Self.vendorCalls(f) == 2, "two checkouts reached the vendor, the third was refused by the breaker")
            #expect(try await Self.scalar(f, "SELECT balance AS v FROM wallets WHERE partner_id = $1", [f.edge.partner]) as Decimal == 100, "refunded")
            #expect(try await Self.scalar(f, "SELECT status AS v FROM inventory_reservations WHERE order_id = $1", [first]) as String == "released")
            let entries: Int = try await Self.scalar(f, "SELECT count(*) AS v FROM wallet_entries WHERE order_id = $1", [first])
            #expect(entries == 2, "a debit and its refund")

            // The breaker is open: the next order fails fast, without a call.
            let second = try await Self.place(f, ref: "v-2", quantity: 1)
            try await eventually("the second order failed") { try await Self.state(f, second).status == "Failed" }
            #expect(try await Self.state(f, second).reason == "vendor unavailable")
            #expect(try await Self.vendorCalls(f) == 2)

            // The vendor recovers; once the cool-down (2 s) has passed, the breaker lets a trial through and
            // closes. Until then each order fails fast on the open breaker, never reaching the vendor.
            try await Self.vendor(f, #"{"failureRate": 0}"#)
            var attempt = 0
            try await eventually("an order completing after the cool-down", timeout: .seconds(30)) {
                attempt += 1
                let id = try await Self.place(f, ref: "v-3-\(attempt)", quantity: 1)
                try await eventually("order v-3-\(attempt) terminal") { try await Self.state(f, id).status != "Processing" }
                let state = try await Self.state(f, id)
                if state.status == "Failed" { #expect(state.reason == "vendor unavailable") }
                return state.status == "Completed"
            }
            #expect(try await Self.vendorCalls(f) == 3, "the trial was the only call after the breaker opened")
            await Self.stop(f)
        }

        /// Issue 16 §2: the vendor placed the order but its answer was lost (past the client's timeout, a 500,
        /// a dropped connection). The order must not be refunded blind: the saga asks the vendor, finds the
        /// order, and completes it; the partner is charged once.
        @Test func aCheckoutWhoseAnswerIsLostIsLookedUpAndCompletesNeverRefundedBlind() async throws {
            let f = try await Self.start(stock: 10, wallet: 100, breakerThreshold: 100, vendorTimeout: "1s")
            defer { f.up.kill() }
            var ids: [UUID] = []
            for mode in ["timeout", "error", "drop"] {
                try await Self.vendor(f, #"{"acceptThen": "\#(mode)", "acceptDelayMs": 2500}"#)
                let id = try await Self.place(f, ref: "lost-\(mode)", quantity: 1)
                try await eventually("the \(mode) order terminal", timeout: .seconds(60)) { try await Self.state(f, id).status != "Processing" }
                #expect(try await Self.state(f, id) == State(status: "Completed", step: "completed", reason: nil), "\(mode)")
                ids.append(id)
            }
            let list = "{" + ids.map(\.lowercasedString).joined(separator: ",") + "}"
            let refunds: Int = try await Self.scalar(f, "SELECT count(*) AS v FROM wallet_entries WHERE order_id = ANY($1::uuid[]) AND kind = 'refund'", [list])
            #expect(refunds == 0)
            let balance: Decimal = try await Self.scalar(f, "SELECT balance AS v FROM wallets WHERE partner_id = $1", [f.edge.partner])
            #expect(balance == 100 - 3 * Decimal(string: "24.38")!, "charged once per order")
            let ledger: Decimal = try await Self.scalar(f, "SELECT sum(amount) AS v FROM wallet_entries WHERE partner_id = $1", [f.edge.partner])
            #expect(ledger == balance)
            await Self.stop(f)
        }

        /// Issue 16 §3: a debit re-sent while the first was slow; the first failed for insufficient funds, the
        /// partner topped up, the second succeeded. Its `payment.debited` reaches an order that failed: the
        /// debit is refunded, once, and the partner's net charge for the failed order is 0.
        @Test func aLateDebitOfAFailedOrderIsRefundedOnce() async throws {
            let f = try await Self.start(stock: 10)
            defer { f.up.kill() }
            let id = try await Self.place(f, ref: "late-1", quantity: 5)                // 121.90 > 100
            try await eventually("the order failed") { try await Self.state(f, id).status == "Failed" }
            #expect(try await Self.state(f, id).reason == "insufficient funds")
            try await f.edge.pool.withConnection { db in                                   // the partner tops up 50
                try db.query("UPDATE wallets SET balance = balance + 50 WHERE partner_id = $1", [f.edge.partner])
                try db.query("INSERT INTO wallet_entries (partner_id, kind, amount, idempotency_key) VALUES ($1, 'topup', 50, $2)",
                             [f.edge.partner, "topup-\(UUID().uuidString)"])
            }
            // The re-sent debit, as the backfill sent it (a new envelope id), arrives now and succeeds.
            let debit = Envelope(topic: SagaTopic.debit, producerId: "order-queue", correlationId: "late-1",
                                 payload: .object(["orderId": .string(id.lowercasedString), "partnerId": .string(f.edge.partner.lowercasedString),
                                                   "amount": .number(121.9)]))
            let publisher = try AMQPPublisher(url: EdgeTests.amqpURL, name: "late-debit")
            try await publisher.publish(exchange: "troupe.events", routingKey: SagaTopic.debit, OutboxRelay.message(debit))
            await publisher.close()
            try await eventually("the late debit refunded") {
                let kinds: [String] = try await f.edge.pool.withConnection { db in
                    try db.query("SELECT kind FROM wallet_entries WHERE order_id = $1 ORDER BY id", [id]).rows.map { try $0.decode("kind") }
                }
                return kinds == ["debit", "refund"]
            }
            let net: Decimal = try await Self.scalar(f, "SELECT sum(amount) AS v FROM wallet_entries WHERE order_id = $1", [id])
            #expect(net == 0, "the failed order costs the partner nothing")
            let balance: Decimal = try await Self.scalar(f, "SELECT balance AS v FROM wallets WHERE partner_id = $1", [f.edge.partner])
            let ledger: Decimal = try await Self.scalar(f, "SELECT sum(amount) AS v FROM wallet_entries WHERE partner_id = $1", [f.edge.partner])
            #expect(balance == 150)
            #expect(ledger == balance)
            #expect(try await Self.state(f, id) == State(status: "Failed", step: "failed", reason: "insufficient funds"))
            await Self.stop(f)
        }

        /// Issue 16 §4: the vendor takes longer than the reservation's time to live. The reservation of a
        /// debited, placed order does not expire (the expiry job runs past its time and leaves it), so the
        /// late confirm finds its units: the order completes and the stock adds up.
        @Test func aVendorSlowerThanTheReservationTTLStillCompletesAndTheStockAddsUp() async throws {
            let f = try await Self.start(stock: 10, reservationTTL: "2s")
            defer { f.up.kill() }
            try await Self.vendor(f, #"{"processingMs": 9000}"#)
            let id = try await Self.place(f, ref: "ttl-1", quantity: 2)
            try await eventually("the expiry job to run after the reservation's time", timeout: .seconds(30)) {
                let ran: Bool = try await Self.scalar(f, """
                    SELECT COALESCE((SELECT last_run_at FROM schedule_runs WHERE job = 'reservation-expiry')
                                    > (SELECT expires_at FROM inventory_reservations WHERE order_id = $1), false) AS v
                    """, [id])
                return ran
            }
            #expect(try await Self.state(f, id).status == "Processing", "the vendor is still at it")
            try await eventually("the order completed", timeout: .seconds(60)) { try await Self.state(f, id).status == "Completed" }
            let available: Int = try await Self.scalar(f, "SELECT s.available AS v FROM inventory_stock s JOIN products p ON p.id = s.product_id WHERE p.sku = $1", [f.edge.sku])
            let sold: Int = try await Self.scalar(f, """
                SELECT -COALESCE(sum(m.quantity), 0)::int AS v FROM inventory_movements m JOIN inventory_reservations r ON r.id = m.reservation_id
                WHERE r.order_id = $1 AND r.status = 'confirmed'
                """, [id])
            #expect(available + sold == 10)
            #expect(sold == 2)
            await Self.stop(f)
        }

        @Test func anOrderBeyondTheStockFailsOutOfStockAndCostsNothing() async throws {
            let f = try await Self.start(stock: 1)
            defer { f.up.kill() }
            let id = try await Self.place(f, ref: "s-2", quantity: 2)
            try await eventually("the order failed") { try await Self.state(f, id).status == "Failed" }
            #expect(try await Self.state(f, id) == State(status: "Failed", step: "failed", reason: "out of stock"))
            let balance: Decimal = try await Self.scalar(f, "SELECT balance AS v FROM wallets WHERE partner_id = $1", [f.edge.partner])
            #expect(balance == 100)
            let order = try await EdgeTests.get(f.edge.base.appendingPathComponent("api/orders/\(id.lowercasedString)"), key: f.edge.key)
            #expect(order.json["status"] == .string("Failed"))
            #expect(order.json["failureReason"] == .string("out of stock"))
            await Self.stop(f)
        }

        @Test func insufficientFundsReleasesTheReservationAndFails() async throws {
            let f = try await Self.start(stock: 10)
            defer { f.up.kill() }
            let id = try await Self.place(f, ref: "s-3", quantity: 5)                   // 121.90 > 100
            try await eventually("the order failed") { try await Self.state(f, id).status == "Failed" }
            #expect(try await Self.state(f, id) == State(status: "Failed", step: "failed", reason: "insufficient funds"))
            let reservation: String = try await Self.scalar(f, "SELECT status AS v FROM inventory_reservations WHERE order_id = $1", [id])
            #expect(reservation == "released")
            let available: Int = try await Self.scalar(f, "SELECT s.available AS v FROM inventory_stock s JOIN products p ON p.id = s.product_id WHERE p.sku = $1", [f.edge.sku])
            #expect(available == 10, "the reserved units are back")
            let balance: Decimal = try await Self.scalar(f, "SELECT balance AS v FROM wallets WHERE partner_id = $1", [f.edge.partner])
            #expect(balance == 100)
            await Self.stop(f)
        }

        @Test func aNodeKilledMidSagaIsRestartedAndEveryOrderEndsConsistently() async throws {
            let f = try await Self.start(stock: 1000, wallet: 1000)
            defer { f.up.kill() }
            try await Self.vendor(f, #"{"processingMs": 300}"#)                        // orders stay at the vendor a while
            let ids = try await withThrowingTaskGroup(of: UUID.self) { group in
                for i in 0..<30 { group.addTask { try await Self.place(f, ref: "k-\(i)", quantity: 1) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let list = "{" + ids.map(\.lowercasedString).joined(separator: ",") + "}"
            let inFlight: Int = try await Self.scalar(f, "SELECT count(*) AS v FROM orders WHERE id = ANY($1::uuid[]) AND status = 'Processing'", [list])
            #expect(inFlight > 0, "the node dies mid-saga")
            let orders = try #require(NodeRuntimeTests.pids(of: "orders", in: f.up.text).last)
            kill(orders, SIGKILL)
            try await f.up.waitFor("exit=signal 9 (SIGKILL) node=orders")
            try await eventually("orders restarted") { NodeRuntimeTests.pids(of: "orders", in: f.up.text).count == 2 }
            try await eventually("every order terminal", timeout: .seconds(90)) {
                let open: Int = try await Self.scalar(f, "SELECT count(*) AS v FROM orders WHERE id = ANY($1::uuid[]) AND status = 'Processing'", [list])
                return open == 0
            }
            let completed: Int = try await Self.scalar(f, "SELECT count(*) AS v FROM orders WHERE id = ANY($1::uuid[]) AND status = 'Completed'", [list])
            #expect(completed == 30, "stock, funds and the vendor were all there: every order completes")
            let balance: Decimal = try await Self.scalar(f, "SELECT balance AS v FROM wallets WHERE partner_id = $1", [f.edge.partner])
            let ledger: Decimal = try await Self.scalar(f, "SELECT sum(amount) AS v FROM wallet_entries WHERE partner_id = $1", [f.edge.partner])
            #expect(balance == ledger)
            #expect(balance == 1000 - Decimal(completed) * Decimal(string: "24.38")!, "one debit per completed order, none twice")
            let inconsistent: Int = try await Self.scalar(f, """
                SELECT count(*) AS v FROM orders o JOIN inventory_reservations r ON r.order_id = o.id
                WHERE o.id = ANY($1::uuid[]) AND ((o.status = 'Completed') <> (r.status = 'confirmed')
                      OR (SELECT count(*) FROM inventory_movements m WHERE m.reservation_id = r.id) <> (CASE WHEN r.status = 'confirmed' THEN 1 ELSE 0 END))
                """, [list])
            #expect(inconsistent == 0, "a reservation is confirmed (once) exactly when its order completed; none is also released")
            await Self.stop(f)
        }
    }
}
