import ActorRuntime
import ActorRuntimeTesting
import Bridges
import Domain
import Foundation
import Testing

extension ComponentQueues {
    /// The order saga across nodes started by `troupe up` (edge and orders), over the real broker and database.
    @Suite(.serialized) struct SagaTests {
        struct Fixture {
            let up: NodeProcess
            let edge: EdgeTests.Fixture
        }

        /// `troupe up` with an edge node and an orders node; a product with `stock` units.
        static func start(stock: Int) async throws -> Fixture {
            let port = Int.random(in: 30_000...39_999)
            let path = try CLI.writeTopology("""
                { "broker": { "url": "\(EdgeTests.amqpURL)" }, "database": { "url": "\(EdgeTests.databaseURL)" },
                  "security": { "apiKeySecret": "\(EdgeTests.secret)" },
                  "nodes": [ { "name": "edge", "http": { "host": "127.0.0.1", "port": \(port) }, "components": [ { "name": "analytics" } ] },
                             { "name": "orders", "components": [ { "name": "order-queue" }, { "name": "inventory" }, { "name": "payment" } ] },
                             { "name": "workers", "components": [ { "name": "brand-sync" }, { "name": "notification" } ] } ] }
                """)
            let up = try NodeProcess(["up", "--topology", path], environment: NodeRuntimeTests.env)
            let base = URL(string: "http://127.0.0.1:\(port)")!
            try await eventually("the edge answering /health") { (try? await EdgeTests.get(base.appendingPathComponent("health")).status) == 200 }
            try await up.waitFor("node=orders [Node] node started")
            let pool = PostgresPool(.init(url: EdgeTests.databaseURL, size: 2))
            let sku = "SAGA-\(UUID().uuidString.prefix(8))"
            try await pool.withConnection { db in
                try db.query("""
                    INSERT INTO products (internal_id, sku, name, brand, currency, min_face_value, max_face_value)
                    VALUES ($1, $1, 'Saga card', 'Test', 'USD', 5, 500)
                    """, [sku])
                try db.query("INSERT INTO inventory_stock (product_id, available) SELECT id, $2 FROM products WHERE sku = $1", [sku, stock])
            }
            let registry = PartnerRegistry(pool: pool, keySecret: EdgeTests.secret)
            let a = try await registry.add(name: "saga-a-\(UUID().uuidString.prefix(8))", wallet: 100, pricePercent: Decimal(string: "97.5")!)
            let b = try await registry.add(name: "saga-b-\(UUID().uuidString.prefix(8))", wallet: 0, pricePercent: 100)
            return Fixture(up: up, edge: EdgeTests.Fixture(node: up, base: base, pool: pool, sku: sku, key: a.key.text, otherKey: b.key.text, partner: a.id))
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

        @Test func stockIsReservedAndTheWalletDebitedThenTheOrderWaitsForTheVendor() async throws {
            let f = try await Self.start(stock: 10)
            defer { f.up.kill() }
            let id = try await Self.place(f, ref: "s-1", quantity: 2)                   // 2 x 24.38 = 48.76
            try await eventually("the order at the vendor step") { try await Self.state(f, id).step == "placing" }
            #expect(try await Self.state(f, id).status == "Processing")
            let balance: Decimal = try await Self.scalar(f, "SELECT balance AS v FROM wallets WHERE partner_id = $1", [f.edge.partner])
            #expect(balance == Decimal(string: "51.24"))
            let ledger: Decimal = try await Self.scalar(f, "SELECT sum(amount) AS v FROM wallet_entries WHERE partner_id = $1", [f.edge.partner])
            #expect(ledger == balance, "the balance equals the ledger's sum")
            let available: Int = try await Self.scalar(f, "SELECT available AS v FROM inventory_stock s JOIN products p ON p.id = s.product_id WHERE p.sku = $1", [f.edge.sku])
            #expect(available == 8)
            let reservation: String = try await Self.scalar(f, "SELECT status AS v FROM inventory_reservations WHERE order_id = $1", [id])
            #expect(reservation == "reserved")
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
            let available: Int = try await Self.scalar(f, "SELECT available AS v FROM inventory_stock s JOIN products p ON p.id = s.product_id WHERE p.sku = $1", [f.edge.sku])
            #expect(available == 10, "the reserved units are back")
            let balance: Decimal = try await Self.scalar(f, "SELECT balance AS v FROM wallets WHERE partner_id = $1", [f.edge.partner])
            #expect(balance == 100)
            await Self.stop(f)
        }
    }
}
