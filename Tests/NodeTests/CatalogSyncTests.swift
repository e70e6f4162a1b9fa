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

/// Issue 19 §1: BrandSync on its schedule, on demand and within the vendor's limits, against the vendor
/// simulator, with nodes of their own in a schema of their own (`database.schema`), so their catalog, limiters
/// and schedule are theirs alone.
@Suite(.serialized) struct CatalogSyncTests {
    struct Fixture {
        let db: PrivateSchema
        let topology: String
        let vendor: URL
        let simulator: NodeProcess
        let edgePort: Int
        var nodes: [NodeProcess] = []

        var edge: URL { URL(string: "http://127.0.0.1:\(edgePort)")! }

        /// The simulator's count of served catalog (or categories) calls.
        func served(_ listing: String = "catalog") async throws -> Int {
            let r = try await EdgeTests.send(URLRequest(url: vendor.appendingPathComponent("sim/stats")))
            guard case .number(let n)? = r.json["\(listing)Calls"] else { throw TestKitError("no stats: \(r.json)") }
            return Int(n)
        }

        /// Changes the simulator's catalog or its refusals (`POST /sim/catalog`).
        func changeVendor(_ json: String) async throws {
            var request = URLRequest(url: vendor.appendingPathComponent("sim/catalog"))
            request.httpMethod = "POST"
            request.httpBody = Data(json.utf8)
            let r = try await EdgeTests.send(request)
            #expect(r.status == 200, "\(r.json)")
        }

        /// `POST /api/brand/sync-catalog` with the admin token.
        fileprivate func askForSync(token: String? = EdgeTests.adminToken) async throws -> EdgeTests.Reply {
            var request = URLRequest(url: edge.appendingPathComponent("api/brand/sync-catalog"))
            request.httpMethod = "POST"
            if let token { request.setValue(token, forHTTPHeaderField: "x-admin-token") }
            return try await EdgeTests.send(request)
        }

        /// Starts `troupe node NAME` and waits until it runs.
        mutating func start(_ name: String) async throws {
            let node = try NodeProcess(["node", name, "--topology", topology], environment: NodeRuntimeTests.env)
            nodes.append(node)
            try await node.waitFor("[Node] node started")
            if name == "edge" {
                let health = edge.appendingPathComponent("health")
                try await node.eventually("the edge answering /health") { (try? await EdgeTests.get(health).status) == 200 }
            }
        }

        func stop() async {
            for node in nodes { node.signal(SIGTERM) }
            for node in nodes { _ = try? await node.waitForExit(timeout: .seconds(15)); node.kill() }
            simulator.kill()
            await db.drop()
        }
    }

    /// The simulator (catalog limit 100 an hour: Troupe's own limiter is what is tested) and a topology
    /// whose nodes `sync-a` and `sync-b` host BrandSync and `edge` serves HTTP; the other components are on
    /// a node never started.
    static func start(brandSync: String = #""every": "1h""#, simulatorLimit: Int = 100) async throws -> Fixture {
        let db = PrivateSchema()
        let vendorPort = try FreePort.pick(in: 31_400...32_767), edgePort = try FreePort.pick(in: 30_000...31_399)
        let simulator = try NodeProcess(["--port", "\(vendorPort)", "--client-secret", "catalog-secret", "--catalog-limit", "\(simulatorLimit)"],
                                        executable: CLI.vendorSimulator)
        try await simulator.waitFor("listening on 127.0.0.1:\(vendorPort)")
        let topology = try CLI.writeTopology("""
            { "broker": { "url": "\(EdgeTests.amqpURL)" }, "database": { "url": "\(EdgeTests.databaseURL)", "schema": "\(db.name)" },
              "security": { "apiKeySecret": "\(EdgeTests.secret)", "adminToken": "\(EdgeTests.adminToken)" },
              "vendor": { "url": "http://127.0.0.1:\(vendorPort)", "clientId": "troupe", "clientSecret": "catalog-secret" },
              "brandSync": { \(brandSync) },
              "nodes": [ { "name": "edge", "http": { "host": "127.0.0.1", "port": \(edgePort) }, "components": [] },
                         { "name": "sync-a", "components": [ { "name": "brand-sync" } ] },
                         { "name": "sync-b", "components": [ { "name": "brand-sync" } ] },
                         { "name": "never-started", "components": [ { "name": "order-queue" }, { "name": "inventory" }, { "name": "payment" },
                                                                    { "name": "notification" }, { "name": "analytics" } ] } ] }
            """)
        return Fixture(db: db, topology: topology, vendor: URL(string: "http://127.0.0.1:\(vendorPort)")!, simulator: simulator,
                       edgePort: edgePort)
    }

    /// The last row `catalog_syncs` has for a part: outcome and counts.
    struct Sync: Equatable { let outcome: String; let new: Int; let changed: Int; let unchanged: Int; let unavailable: Int }

    static func lastSync(_ f: Fixture, _ part: String = "catalog") async throws -> Sync? {
        try await f.db.pool.withConnection { db in
            try db.query("SELECT outcome, new_rows, changed, unchanged, unavailable FROM catalog_syncs WHERE part = $1 ORDER BY id DESC LIMIT 1",
                         [part]).rows.first.map {
                Sync(outcome: try $0.decode("outcome"), new: try $0.decode("new_rows"), changed: try $0.decode("changed"),
                     unchanged: try $0.decode("unchanged"), unavailable: try $0.decode("unavailable"))
            }
        }
    }

    @Test func aCatalogChangeInTheSimulatorLandsAfterASyncAndUnchangedRowsAreNotRewritten() async throws {
        var f = try await Self.start()
        defer { for node in f.nodes { node.kill() }; f.simulator.kill() }
        try await f.start("sync-a")
        // The first sync runs at once: nothing was ever synced.
        try await eventually("the first catalog sync") { try await Self.lastSync(f) == Sync(outcome: "ok", new: 6, changed: 0, unchanged: 0, unavailable: 0) }
        #expect(try await Self.lastSync(f, "categories") == Sync(outcome: "ok", new: 3, changed: 0, unchanged: 0, unavailable: 0))
        let links: String = try await f.db.scalar("""
            SELECT string_agg(l.category_id, ',' ORDER BY l.category_id) AS v FROM brand_categories l JOIN brands b ON b.id = l.brand_id
            WHERE b.name = 'Uber Eats'
            """)
        #expect(links == "1,3", "every category of the brand is linked, not only its first")
        let untouchedBefore: String = try await f.db.scalar("SELECT xmin::text AS v FROM products WHERE internal_id = '1001'")

        try await f.changeVendor(#"{"upsert": [{"id": 4001, "name": "Apple US", "brand": "Apple", "maxFace": 200}, {"id": 1002, "maxFace": 350}], "remove": [2002]}"#)
        let run = try await CLI.run(["jobs", "run", "catalog-sync", "--topology", f.topology], environment: NodeRuntimeTests.env)
        #expect(run.code == 0, "\(run.out) \(run.err)")
        #expect(run.out.contains("catalog-sync ran on sync-a"), "\(run.out)")
        #expect(try await Self.lastSync(f) == Sync(outcome: "ok", new: 1, changed: 1, unchanged: 4, unavailable: 1))
        let untouchedAfter: String = try await f.db.scalar("SELECT xmin::text AS v FROM products WHERE internal_id = '1001'")
        #expect(untouchedAfter == untouchedBefore, "an unchanged product's row was not written")
        #expect(try await f.db.scalar("SELECT available AS v FROM products WHERE internal_id = '4001'") == true)
        #expect(try await f.db.scalar("SELECT available AS v FROM products WHERE internal_id = '2002'") == false, "kept, marked unavailable")
        #expect(try await f.db.scalar("SELECT max_face_value AS v FROM products WHERE internal_id = '1002'") == Decimal(350))
        let history: String = try await f.db.scalar("""
            SELECT h.previous_max_face_value::text || '->' || h.max_face_value::text AS v FROM product_price_history h
            JOIN products p ON p.id = h.product_id WHERE p.internal_id = '1002'
            """)
        #expect(history == "300.00->350.00")

        // troupe jobs shows the run; the edge shows only what is available, with an entity tag.
        let jobs = try await CLI.run(["jobs", "--topology", f.topology], environment: NodeRuntimeTests.env)
        #expect(jobs.code == 0 && jobs.out.contains("catalog-sync\t1h 0m\t") && jobs.out.contains("\tsync-a\t"), "\(jobs.out) \(jobs.err)")
        try await f.start("edge")
        let registry = PartnerRegistry(pool: f.db.pool, keySecret: EdgeTests.secret)
        let partner = try await registry.add(name: "catalog-\(f.db.name)", wallet: 0, pricePercent: 95)
        var request = URLRequest(url: f.edge.appendingPathComponent("api/brand/getCatalog"))
        request.setValue(partner.key.text, forHTTPHeaderField: "x-api-key")
        request.cachePolicy = .reloadIgnoringLocalCacheData
        let (data, response) = try await URLSession.shared.data(for: request)
        let catalog = try JSONValue(parsing: Array(data))
        guard case .array(let products)? = catalog["products"], let tag = (response as? HTTPURLResponse)?.value(forHTTPHeaderField: "etag") else {
            Issue.record("no catalog or etag: \(catalog)"); await f.stop(); return
        }
        let skus = products.compactMap { if case .string(let s)? = $0["sku"] { s } else { nil } }
        #expect(skus.contains("APPLE-US-4001") && !skus.contains { $0.hasSuffix("-2002") } && skus.count == 6, "\(skus)")
        request.setValue(tag, forHTTPHeaderField: "if-none-match")
        let (again, second) = try await URLSession.shared.data(for: request)
        #expect((second as? HTTPURLResponse)?.statusCode == 304 && again.isEmpty, "nothing changed: 304 without a body")
        await f.stop()
    }

    @Test func twoNodesAndManualTriggersStayWithinTheLimitAndACategoriesFailureStillSyncsTheCatalog() async throws {
        // A schedule every second on two nodes, and the vendor's limit of 2 catalog calls an hour.
        var f = try await Self.start(brandSync: #""every": "1s", "catalogLimit": { "calls": 2, "per": "1h" }"#)
        defer { for node in f.nodes { node.kill() }; f.simulator.kill() }
        try await f.changeVendor(#"{"failing": ["categories"]}"#)
        try await f.start("sync-a")
        try await f.start("sync-b")
        try await f.start("edge")
        try await eventually("the first catalog sync, the categories failing") { try await Self.lastSync(f)?.outcome == "ok" }
        #expect(try await Self.lastSync(f, "categories")?.outcome == "failed")
        #expect(try await f.db.scalar("SELECT count(*) AS v FROM products WHERE available") == 6, "the catalog synced without its categories")
        try await f.changeVendor(#"{"failing": []}"#)
        // The second call of the hour, by whichever node or trigger comes first; then the limiter says wait.
        _ = try await f.askForSync()
        try await eventually("the second catalog call", timeout: .seconds(30)) { try await f.served("catalog") == 2 }
        try await eventually("a run told to wait by the limiter") { try await Self.lastSync(f)?.outcome == "rate-limited" }
        // Asked for again until both limiters are spent (the categories' may still have room): then 429.
        var limited: EdgeTests.Reply? = nil
        try await eventually("a manual request refused with 429", timeout: .seconds(40)) {
            let r = try await f.askForSync()
            #expect(r.status == 202 || r.status == 429, "\(r.json)")
            if r.status == 429 { limited = r }
            return r.status == 429
        }
        #expect(Int(limited?.retryAfter ?? "") ?? 0 > 3000, "Retry-After: until a call leaves the hour's window")
        #expect(try await f.db.scalar("SELECT count(*)::int AS v FROM vendor_calls WHERE limiter = 'bamboo_categories'") == 2)
        let runs: Int = try await f.db.scalar("SELECT count(*)::int AS v FROM catalog_syncs WHERE part = 'catalog' AND outcome = 'rate-limited'")
        #expect(runs >= 1)
        #expect(try await f.served("catalog") == 2, "two nodes, a schedule every second and manual triggers: 2 catalog calls")
        #expect(try await f.askForSync(token: nil).status == 401, "admin only")
        await f.stop()
    }

    @Test func aVendorWaitOf120SecondsHoldsTheNextCatalogCallAndTheRetryDoesNotSpendTheBudget() async throws {
        var f = try await Self.start(brandSync: #""every": "1h", "catalogLimit": { "calls": 1, "per": "1h" }"#)
        defer { for node in f.nodes { node.kill() }; f.simulator.kill() }
        try await f.changeVendor(#"{"refuseNext": {"catalog": 120}}"#)
        try await f.start("sync-a")
        try await eventually("the catalog refused with a wait") { try await Self.lastSync(f)?.outcome == "rate-limited" }
        let wait: Double = try await f.db.scalar("SELECT extract(epoch FROM retry_after_until - now())::float8 AS v FROM vendor_rate_limits WHERE name = 'bamboo_catalog'")
        #expect(wait > 110 && wait <= 120, "the vendor's 120 s: \(wait)")
        #expect(try await f.db.scalar("SELECT count(*)::int AS v FROM vendor_calls WHERE limiter = 'bamboo_catalog'") == 0, "the refused call left the budget")
        let next: Double = try await f.db.scalar("SELECT extract(epoch FROM next_run_at - now())::float8 AS v FROM schedule_runs WHERE job = 'catalog-sync'")
        #expect(next > 110 && next <= 120, "the job runs again when the wait is over, not in an hour: \(next)")
        // Asked for again within the wait: the run makes no catalog call.
        let run = try await CLI.run(["jobs", "run", "catalog-sync", "--topology", f.topology], environment: NodeRuntimeTests.env)
        #expect(run.out.contains("catalog: rate-limited until"), "\(run.out) \(run.err)")
        #expect(try await f.served("catalog") == 0)
        // 120 s later (the clock moved by the test rather than waited for): one call, within a budget of 1.
        try await f.db.pool.withConnection { db in
            try db.query("UPDATE vendor_rate_limits SET retry_after_until = now() - interval '1 second' WHERE name = 'bamboo_catalog'")
        }
        let retry = try await CLI.run(["jobs", "run", "catalog-sync", "--topology", f.topology], environment: NodeRuntimeTests.env)
        #expect(retry.code == 0 && retry.out.contains("products 6 new"), "\(retry.out) \(retry.err)")
        #expect(try await f.served("catalog") == 1)
        await f.stop()
    }
}
