import ActorRuntime
import Bridges
import Domain
import Foundation

/// `troupe-bench codes`: Inventory's code pools through a real edge node, against PostgreSQL's own ceilings in
/// the same run. Upload: a CSV of `BENCH_CODES` codes (1,000,000) read from the object store by file key, against
/// `psql \copy` of the same file into a table of the same shape (`pg.copy`; target ≥ 50 %). Reserve: 10 codes a
/// call from 32 keep-alive HTTP clients, against `pgbench` running the reserve statement alone with 32 clients
/// (target ≥ 40 %). Count: one pool's counts over HTTP (target < 5 ms), beside the full scan they replace.
enum CodesBench {
    static let env = ProcessInfo.processInfo.environment
    static let rows = max(10_000, Int(env["BENCH_CODES"] ?? "") ?? 1_000_000)
    static let clients = max(1, Int(env["BENCH_CONCURRENCY"] ?? "") ?? 32)
    static let reserves = max(1_000, Int(env["BENCH_RESERVES"] ?? "") ?? 20_000)
    static let secret = "bench-codes-hs256-secret-0123456789abcdef"

    @Sendable static func run() async throws {
        let run = UUID().uuidString.prefix(8).lowercased()
        let campaign = "bench-\(run)", copyTable = "bench_copy_\(run)"
        let store = FileManager.default.temporaryDirectory.appendingPathComponent("troupe-bench-objects-\(run)")
        let key = "codes/\(campaign)/tm/bench.csv"
        let file = store.appendingPathComponent(key)
        try writeCSV(file, run: String(run))
        let pool = PostgresPool(.init(url: BenchNode.databaseURL, size: 2))
        let port = try HTTPLoad.freePort()
        let node = try BenchNode.start("edge", settings: """
            "inventory": { "codes": { "jwt": { "hs256Secret": "\(secret)" }, "objectStore": { "directory": "\(store.path)" } } },
            "rateLimits": { "codesPerMinute": 10000000 },
            """, nodes: """
            [ { "name": "edge", "http": { "host": "127.0.0.1", "port": \(port) }, "components": [] },
              { "name": "rest", "components": [ { "name": "order-queue" }, { "name": "inventory" }, { "name": "payment" },
                                                { "name": "brand-sync" }, { "name": "notification" }, { "name": "analytics" } ] } ]
            """)
        try await withCleanup {
            try await HTTPLoad.awaitReady(host: "127.0.0.1", port: port, path: "/health")
            let token = try await bearer()

            // Upload: PostgreSQL's COPY of the file first, into a table of code_pool's shape (its keys and indexes).
            try await pool.withConnection { db in
                try db.query("CREATE TABLE \(copyTable) (LIKE code_pool INCLUDING ALL)")
                try db.query("ALTER TABLE \(copyTable) ALTER COLUMN campaign_id SET DEFAULT '\(campaign)', ALTER COLUMN type SET DEFAULT 'tm'")
            }
            let copySeconds = try await timed { try await psql(#"\copy \#(copyTable) (code) FROM '\#(file.path)' WITH (FORMAT csv)"#) }
            report("codes.pg_copy_rows_per_s", Double(rows) / copySeconds, "rows/s")
            // What the node's side costs alone: reading the file from the store and parsing it, nothing written.
            let parseSeconds = try await timed {
                var reader = CSVFirstColumn(), parsed = 0
                for try await chunk in try await DirectoryObjectStore(root: store.path).read(key) { reader.feed(chunk) { _ in parsed += 1 } }
                reader.finish { _ in parsed += 1 }
                guard parsed == rows else { throw BenchNode.Failure(description: "parsed \(parsed) of \(rows) codes") }
            }
            report("codes.read_parse_rows_per_s", Double(rows) / parseSeconds, "rows/s")
            let rssBefore = residentKB(node.process.pid, "VmRSS")
            let upload = request("POST", "/v1/\(campaign)/codes", port: port, token: token, body: #"{"fileKey": "\#(key)"}"#)
            let uploadSeconds = try await timed {
                // One request, however long the file takes (10 M codes: minutes).
                let answer = try await DedicatedThread.run("bench.upload") {
                    try HTTPLoadConnection(host: "127.0.0.1", port: port, timeout: 3600).exchange(upload)
                }
                guard answer.status == 200 else {
                    throw BenchNode.Failure(description: "the upload answered \(answer.status): \(String(decoding: answer.body, as: UTF8.self).prefix(200))")
                }
            }
            let uploadRate = Double(rows) / uploadSeconds
            report("codes.upload_rows_per_s", uploadRate, "rows/s")
            report("codes.upload_vs_pg_copy", uploadRate * copySeconds / Double(rows), "ratio")
            report("codes.upload_node_rss_before_mb", Double(rssBefore) / 1024, "MB")
            report("codes.upload_node_peak_rss_mb", Double(residentKB(node.process.pid, "VmHWM")) / 1024, "MB")

            // Reserve: pgbench's ceiling for the statement alone, then the API.
            let ceiling = try await pgbench(campaign: campaign)
            report("codes.reserve_ceiling_tps", ceiling, "tps")
            let reserve = request("GET", "/v1/\(campaign)/reserve?count=10&type=tm", port: port, token: token)
            _ = try await HTTPLoad.flat(host: "127.0.0.1", port: port, total: reserves / 10, clients: clients, expect: 200, what: "reserve") { _ in reserve }
            let reserved = try await HTTPLoad.flat(host: "127.0.0.1", port: port, total: reserves, clients: clients, expect: 200, what: "reserve") { _ in
                reserve
            }
            report("codes.reserve_per_s", reserved.perSecond, "req/s")
            report("codes.reserve_p99_ms", HTTPLoad.percentile(reserved.ms, 0.99), "ms")
            report("codes.reserve_vs_ceiling", reserved.perSecond / ceiling, "ratio")

            // Count: the counters over HTTP, and the full scan they replace; both must agree.
            let count = request("GET", "/v1/\(campaign)/codes/count?type=tm", port: port, token: token)
            let counted = try await HTTPLoad.flat(host: "127.0.0.1", port: port, total: 500, clients: 1, expect: 200, what: "count") { _ in count }
            report("codes.count_ms", HTTPLoad.percentile(counted.ms, 0.5), "ms")
            report("codes.count_p99_ms", HTTPLoad.percentile(counted.ms, 0.99), "ms")
            let (fast, scan, scanSeconds) = try await pool.withConnection { db in
                let fast = try CodePool.count(campaign: campaign, type: .tm, on: db)
                let start = ContinuousClock.now
                let scan = try CodePool.countByScan(campaign: campaign, type: .tm, on: db)
                return (fast, scan, seconds(since: start))
            }
            report("codes.count_scan_ms", scanSeconds * 1000, "ms")
            guard fast == scan, fast[.available, default: 0] + fast[.reserved, default: 0] == rows else {
                throw BenchNode.Failure(description: "the counters \(fast) disagree with the scan \(scan) (\(rows) codes)")
            }
        } cleanup: {
            await node.stop()
            _ = try? await pool.withConnection { db in
                try db.query("DROP TABLE IF EXISTS \(copyTable)")
                try db.query("DELETE FROM code_pool WHERE campaign_id = $1", [campaign])
                try db.query("DELETE FROM code_pool_counts WHERE campaign_id = $1", [campaign])
            }
            await pool.shutdown()
            try? FileManager.default.removeItem(at: store)
        }
    }

    /// `rows` distinct codes, one a line.
    static func writeCSV(_ file: URL, run: String) throws {
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: file.path, contents: nil) else { throw BenchNode.Failure(description: "cannot write \(file.path)") }
        let handle = try FileHandle(forWritingTo: file)
        defer { try? handle.close() }
        var chunk = ""
        for i in 0..<rows {
            chunk += "BENCH-\(run)-\(i)\n"
            if chunk.utf8.count > 1 << 20 { handle.write(Data(chunk.utf8)); chunk = "" }
        }
        handle.write(Data(chunk.utf8))
    }

    static func bearer() async throws -> String {
        let troupe = ChildProcess.sibling("troupe")
        let topology = FileManager.default.temporaryDirectory.appendingPathComponent("troupe-bench-token-\(UUID().uuidString).json")
        try Data("""
            { "broker": { "url": "\(BenchNode.amqpURL)" }, "database": { "url": "\(BenchNode.databaseURL)" },
              "inventory": { "codes": { "jwt": { "hs256Secret": "\(secret)" } } },
              "nodes": [ { "name": "all", "components": [ { "name": "order-queue" }, { "name": "inventory" }, { "name": "payment" },
                         { "name": "brand-sync" }, { "name": "notification" }, { "name": "analytics" } ] } ] }
            """.utf8).write(to: topology)
        defer { try? FileManager.default.removeItem(at: topology) }
        let out = topology.path + ".out"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let process = try ChildProcess.spawn(troupe, ["token", "--supreme", "--subject", "bench", "--topology", topology.path], stdout: out, stderr: out)
        guard await process.exit().isNormal, let text = try? String(contentsOfFile: out, encoding: .utf8) else {
            throw BenchNode.Failure(description: "troupe token failed")
        }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func request(_ method: String, _ path: String, port: Int, token: String, body: String = "") -> [UInt8] {
        Array("""
            \(method) \(path) HTTP/1.1\r\nhost: 127.0.0.1:\(port)\r\nauthorization: Bearer \(token)\r\n\
            content-type: application/json\r\ncontent-length: \(body.utf8.count)\r\n\r\n\(body)
            """.utf8)
    }

    static func timed(_ body: () async throws -> Void) async throws -> Double {
        let start = ContinuousClock.now
        try await body()
        return seconds(since: start)
    }

    /// A PostgreSQL client program: `pg_config --bindir`'s, else the Debian layout's, else PATH's.
    static func tool(_ name: String) -> String {
        let candidates = ["/usr/lib/postgresql/15/bin/\(name)", "/usr/lib/postgresql/16/bin/\(name)", "/usr/bin/\(name)"]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? name
    }

    /// Runs `command` with psql on the bench database.
    static func psql(_ command: String) async throws {
        try await runTool("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", command, BenchNode.databaseURL])
    }

    /// Runs a PostgreSQL tool to its end; its output, or a failure naming it.
    @discardableResult
    static func runTool(_ name: String, _ arguments: [String]) async throws -> String {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("troupe-bench-\(name)-\(UUID().uuidString).out").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        let process = try ChildProcess.spawn(tool(name), arguments, stdout: out, stderr: out)
        let exit = await process.exit()
        let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        guard exit.isNormal else { throw BenchNode.Failure(description: "\(name) failed (\(exit)): \(text.prefix(400))") }
        return text
    }

    /// pgbench running CodePool's reserve statement alone (10 codes of `campaign`'s pool each, a new reserve id
    /// each) from 32 clients for 10 s, planned at each run as CodePool runs it (`-M extended`). - Returns:
    /// transactions per second.
    static func pgbench(campaign: String) async throws -> Double {
        let script = FileManager.default.temporaryDirectory.appendingPathComponent("troupe-bench-reserve-\(UUID().uuidString).sql")
        defer { try? FileManager.default.removeItem(at: script) }
        let sql = CodePool.reserveStatement.replacingOccurrences(of: "$1", with: ":campaign").replacingOccurrences(of: "$2", with: ":type")
            .replacingOccurrences(of: "$3", with: ":n").replacingOccurrences(of: "$4", with: "gen_random_uuid()")
            .replacingOccurrences(of: "$5", with: ":lifetime")
        // A custom script's SQL command may span lines; a ';' ends it.
        try Data((sql + ";\n").utf8).write(to: script)
        let text = try await runTool("pgbench", ["-n", "-M", "extended", "-c", "\(clients)", "-j", "2", "-T", "10",
                                                 "-D", "campaign=\(campaign)", "-D", "type=tm", "-D", "n=10",
                                                 "-D", "lifetime=\(CodePool.reservationLifetime)", "-f", script.path, BenchNode.databaseURL])
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("tps = ") }),
              let value = Double(line.dropFirst(6).prefix { $0.isNumber || $0 == "." }) else {
            throw BenchNode.Failure(description: "pgbench printed no tps: \(text.suffix(400))")
        }
        return value
    }

    /// A field of /proc/PID/status in kB (VmRSS now, VmHWM the peak).
    static func residentKB(_ pid: pid_t, _ field: String) -> Int {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix(field + ":") }) else { return 0 }
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? 0
    }
}
