import ActorRuntime
import Bridges
import Domain
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `troupe-bench catalog`: BrandSync's sync of a 10,000-product catalog from `troupe-vendor-sim` into a
/// scratch schema: the first load, then an unchanged re-sync (which must write no rows), and in the same
/// run the baseline of one plain `INSERT ... SELECT unnest(...)` of the same products into a table of the
/// same columns.
enum CatalogBench {
    static let env = ProcessInfo.processInfo.environment
    static let products = max(100, Int(env["BENCH_CATALOG_PRODUCTS"] ?? "") ?? 10_000)

    /// The simulator's listings over HTTP with Basic auth.
    struct Source: CatalogSource {
        let base: URL
        let authorization = "Basic " + Data("troupe:bench-vendor-secret".utf8).base64EncodedString()

        func get(_ path: String) async throws -> JSONValue {
            var request = URLRequest(url: base.appendingPathComponent(path))
            request.setValue(authorization, forHTTPHeaderField: "authorization")
            let (data, response) = try await URLSession.shared.data(for: request)
            guard (response as? HTTPURLResponse)?.statusCode == 200 else { throw BenchNode.Failure(description: "\(path): \(response)") }
            return try JSONValue(parsing: Array(data))
        }
        func categories() async throws -> JSONValue { try await get("api/integration/v2.0/categories") }
        func catalog() async throws -> JSONValue { try await get("api/integration/v1.0/catalog") }
    }

    @Sendable static func run() async throws {
        let port = try HTTPLoad.freePort()
        let simulator = try ChildProcess.spawn(ChildProcess.sibling("troupe-vendor-sim"),
                                               ["--port", "\(port)", "--catalog-limit", "1000"],
                                               environment: ["VENDOR_SIM_CLIENT_SECRET": "bench-vendor-secret"], stdout: "/dev/null", stderr: "/dev/null")
        let schema = "bench_catalog_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(8).lowercased()
        let admin = PostgresPool(.init(url: BenchNode.databaseURL, size: 1))
        try await admin.withConnection { db in try db.query("CREATE SCHEMA \(schema)") }
        let pool = PostgresPool(.init(url: BenchNode.databaseURL, size: 2, schema: schema))
        try await withCleanup {
            _ = try await Migrator(pool: pool, migrations: DomainSchema.allMigrations()).run()
            let base = URL(string: "http://127.0.0.1:\(port)")!
            try await HTTPLoad.awaitReady(host: "127.0.0.1", port: port, path: "/sim/stats")
            var request = URLRequest(url: base.appendingPathComponent("sim/catalog"))
            request.httpMethod = "POST"
            request.httpBody = Data(#"{"generate": \#(products)}"#.utf8)
            _ = try await URLSession.shared.data(for: request)

            var settings = CatalogSync.Settings()
            settings.catalogLimit.calls = 1000
            settings.categoriesLimit.calls = 1000
            let sync = CatalogSync(source: Source(base: base), settings: settings)
            let first = try await timed { try await sync.run(pool) }
            guard !first.result.failed, first.result.rows == products else { throw BenchNode.Failure(description: "first load: \(first.result.summary)") }
            report("catalog.first_sync_ms", first.ms, "ms")
            let again = try await timed { try await sync.run(pool) }
            guard !again.result.failed else { throw BenchNode.Failure(description: "re-sync: \(again.result.summary)") }
            report("catalog.resync_ms", again.ms, "ms")
            report("catalog.resync_rows_written", Double(again.result.rows), "rows")
            report("catalog.products", Double(products), "products")
            report("pg.insert_products_ms", try await baseline(pool), "ms")
        } cleanup: {
            simulator.send(SIGTERM)
            _ = await simulator.exit()
            await pool.shutdown()
            _ = try? await admin.withConnection { db in try db.query("DROP SCHEMA \(schema) CASCADE") }
            await admin.shutdown()
        }
    }

    static func timed(_ body: () async throws -> JobResult) async throws -> (result: JobResult, ms: Double) {
        let start = ContinuousClock.now
        let result = try await body()
        return (result, (ContinuousClock.now - start).inSeconds * 1000)
    }

    /// One statement inserting `products` rows of the products' columns into a table of its own.
    static func baseline(_ pool: PostgresPool) async throws -> Double {
        try await pool.withConnection { db in
            try db.query("CREATE TABLE bench_products (LIKE products INCLUDING DEFAULTS)")
            let ids = (0..<products).map { String(100_000 + $0) }
            let start = ContinuousClock.now
            try db.query("""
                INSERT INTO bench_products (internal_id, sku, name, brand, country, currency, min_face_value, max_face_value, content_hash)
                SELECT i, 'SKU-' || i, 'Card ' || i, 'Brand', 'US', 'USD', 5, 100, md5(i) FROM unnest($1::text[]) AS i
                """, [PostgresArray(ids)])
            return (ContinuousClock.now - start).inSeconds * 1000
        }
    }
}
