import ActorRuntime
import Bridges
import Domain
import Foundation

/// `troupe-bench orders`: drives the running system (`scripts/run.sh`) over HTTP. Accept: `BENCH_ORDERS`
/// orders POSTed by `BENCH_CONCURRENCY` clients (each a thread with a keep-alive connection; each a 202);
/// complete: from each order's creation to its `Completed` (vendor simulator at zero latency); and, in the same run, the ceiling: `pgbench` running the
/// accept transaction alone (insert an order row and an outbox row) with 8 clients.
enum OrdersBench {
    static let env = ProcessInfo.processInfo.environment
    static let base = env["BENCH_EDGE_URL"] ?? "http://127.0.0.1:8080"
    static let databaseURL = env["TROUPE_DATABASE_URL"] ?? "postgresql://troupe:troupe@127.0.0.1:5439/troupe"
    static let keySecret = env["TROUPE_API_KEY_SECRET"] ?? "dev-only-secret-change-me-in-production"
    static let total = max(100, Int(env["BENCH_ORDERS"] ?? "") ?? 4000)
    static let concurrency = max(1, Int(env["BENCH_CONCURRENCY"] ?? "") ?? 32)
    static let sku = env["BENCH_SKU"] ?? "AMAZON-US-1001"

    struct Failure: Error, CustomStringConvertible { let description: String }

    @Sendable static func run() async throws {
        try await orders()
    }

    static func orders() async throws {
        let pool = PostgresPool(.init(url: databaseURL, size: 2, applicationName: "troupe-bench orders"))
        try await withCleanup { try await orders(pool) } cleanup: { await pool.shutdown() }
    }

    static func orders(_ pool: PostgresPool) async throws {
        let run = String(UUID.v7().lowercasedString.suffix(12))
        let partner = try await PartnerRegistry(pool: pool, keySecret: keySecret)
            .add(name: "bench-\(run)", wallet: 1_000_000_000, pricePercent: 100)
        let stocked = try await pool.transaction { db in
            try db.query("UPDATE inventory_stock s SET available = s.available + $2 FROM products p WHERE p.id = s.product_id AND p.sku = $1",
                         [sku, total]).affectedRows
        }
        guard stocked == 1 else { throw Failure(description: "no product \(sku) with stock (the catalog loads when Troupe first starts)") }

        // Accept: POST /api/orders from `concurrency` clients, each a thread with its keep-alive connection.
        guard let url = URL(string: base), url.scheme == "http", let host = url.host else {
            throw Failure(description: "BENCH_EDGE_URL is not http://HOST:PORT: \(base)")
        }
        let port = url.port ?? 80
        let key = partner.key.text
        let (acceptRate, accepted, samples) = try await HTTPLoad.flat(host: host, port: port, total: total, clients: concurrency, expect: 202,
                                                                      what: "POST /api/orders") { i in
            let body = orderBody(run: run, i)
            return Array("""
                POST /api/orders HTTP/1.1\r\nhost: \(host):\(port)\r\nx-api-key: \(key)\r\ncontent-type: application/json\r\n\
                content-length: \(body.utf8.count)\r\n\r\n\(body)
                """.utf8)
        }
        if let path = env["BENCH_TRACE"] {
            // Each POST's start (ms after the first) and latency, one per line: where the slow ones fall.
            try Data(samples.map { "\($0.startMs) \($0.ms)\n" }.joined().utf8).write(to: URL(fileURLWithPath: path))
        }
        report("orders.accepted_per_s", acceptRate, "orders/s")
        report("orders.accept_p50_ms", percentile(accepted, 0.50), "ms")
        report("orders.accept_p99_ms", percentile(accepted, 0.99), "ms")

        // Complete: until every order of this run is terminal.
        let deadline = ContinuousClock.now + .seconds(300)
        while true {
            let open = try await pool.withConnection { db in
                try db.query("SELECT count(*) AS n FROM orders WHERE partner_id = $1 AND status = 'Processing'", [partner.id]).rows[0].decode("n", as: Int.self)
            }
            if open == 0 { break }
            guard ContinuousClock.now < deadline else { throw Failure(description: "\(open) orders still Processing after 300 s") }
            // The count reads every order of the partner (7-10 ms of the database's time): once a second
            // is enough, since the completion figures come from the orders' own timestamps.
            try await Task.sleep(for: .seconds(1))
        }
        let (completed, span, durations) = try await pool.withConnection { db in
            let rows = try db.query("""
                SELECT EXTRACT(EPOCH FROM updated_at - created_at)::float8 * 1000 AS ms,
                       EXTRACT(EPOCH FROM max(updated_at) OVER () - min(created_at) OVER ())::float8 AS span
                FROM orders WHERE partner_id = $1 AND status = 'Completed'
                """, [partner.id]).rows
            return (rows.count, try rows.first?.decode("span", as: Double.self) ?? 0, try rows.map { try $0.decode("ms", as: Double.self) }.sorted())
        }
        guard completed == accepted.count else { throw Failure(description: "\(accepted.count - completed) orders did not complete") }
        report("orders.completed_per_s", Double(completed) / span, "orders/s")
        report("orders.complete_p50_ms", percentile(durations, 0.50), "ms")
        report("orders.complete_p99_ms", percentile(durations, 0.99), "ms")

        report("orders.pg_ceiling_tps", try await pgCeiling(pool), "tps")
    }

    static func orderBody(run: String, _ i: Int) -> String {
        #"{"referenceId": "bench-\#(run)-\#(i)", "sku": "\#(sku)", "faceValue": 5, "quantity": 1}"#
    }

    static func percentile(_ sorted: [Double], _ p: Double) -> Double {
        sorted.isEmpty ? .nan : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
    }

    /// `pgbench -c 8 -j 2 -T 10` running the accept transaction alone (an order row and an outbox row, in
    /// tables shaped like Troupe's, in a scratch schema); returns its tps.
    static func pgCeiling(_ pool: PostgresPool) async throws -> Double {
        try await pool.withConnection { db in
            try db.query("DROP SCHEMA IF EXISTS bench_ceiling CASCADE")
            try db.query("CREATE SCHEMA bench_ceiling")
            try db.query("CREATE TABLE bench_ceiling.orders (LIKE public.orders INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES)")
            try db.query("ALTER TABLE bench_ceiling.orders DROP CONSTRAINT IF EXISTS orders_partner_id_fkey")
            try db.query("CREATE TABLE bench_ceiling.outbox (LIKE public.troupe_outbox INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES)")
        }
        let script = FileManager.default.temporaryDirectory.appendingPathComponent("troupe-accept-\(UUID().uuidString).sql")
        try Data("""
            BEGIN;
            INSERT INTO bench_ceiling.orders (id, partner_id, reference_id, product_id, sku, face_value, quantity, unit_price, total, currency, status, step, correlation_id)
              VALUES (gen_random_uuid(), '00000000-0000-7000-8000-000000000001', gen_random_uuid()::text, 1, 'AMAZON-US-1001', 5, 1, 5, 5, 'USD', 'Processing', 'created', 'req-bench');
            INSERT INTO bench_ceiling.outbox (id, topic, envelope) VALUES (gen_random_uuid(), 'order.created', '{"topic":"order.created","payload":{}}');
            END;

            """.utf8).write(to: script)
        defer { try? FileManager.default.removeItem(at: script) }
        let outputFile = script.deletingPathExtension().appendingPathExtension("out")
        defer { try? FileManager.default.removeItem(at: outputFile) }
        let pgbench = try ChildProcess.spawn("/usr/bin/pgbench", ["-n", "-c", "8", "-j", "2", "-T", "10", "-f", script.path, databaseURL],
                                             stdout: outputFile.path)
        let watchdog = Task {
            try await Task.sleep(for: .seconds(60))
            pgbench.send(SIGKILL)
        }
        let exit = await pgbench.exit()
        watchdog.cancel()
        let output = (try? String(contentsOf: outputFile, encoding: .utf8)) ?? ""
        guard exit.isNormal else { throw Failure(description: "pgbench ended with \(exit): \(output.prefix(300))") }
        try await pool.withConnection { db in try db.query("DROP SCHEMA bench_ceiling CASCADE") }
        guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix("tps = ") }),
              let tps = Double(line.dropFirst(6).prefix { $0.isNumber || $0 == "." }) else {
            throw Failure(description: "pgbench printed no tps: \(output.prefix(300))")
        }
        return tps
    }
}
