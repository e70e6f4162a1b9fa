import Bridges
import Foundation
import Testing

/// Runs the built `troupe` binary as an operator would.
struct CLI {
    static let binary: URL = {
        // The test bundle and the products live in the same build directory.
        let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let candidates = [dir, dir.deletingLastPathComponent()].map { $0.appendingPathComponent("troupe") }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[0]
    }()
    /// The vendor simulator, built beside `troupe`.
    static let vendorSimulator = binary.deletingLastPathComponent().appendingPathComponent("troupe-vendor-sim")
    /// The payment provider simulator, built beside `troupe`.
    static let paymentSimulator = binary.deletingLastPathComponent().appendingPathComponent("troupe-payment-sim")

    struct Result { let code: Int32; let out: String; let err: String }

    /// Runs `troupe args` and waits for it on a thread of its own: waiting on the cooperative pool (two
    /// threads here) held up every other test while the debug binary started (seen in CI: the whole
    /// parallel suite stalled for 3.5 s, and actor tests' 5 s expectations ran out).
    static func run(_ args: [String], environment: [String: String] = [:], in directory: URL? = nil) async throws -> Result {
        try await DedicatedThread.run("cli.\(args.first ?? "")") { try runBlocking(args, environment: environment, in: directory) }
    }

    private static func runBlocking(_ args: [String], environment: [String: String], in directory: URL?) throws -> Result {
        let p = Process()
        p.executableURL = binary
        p.arguments = args
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "TROUPE_AMQP_URL")
        env.removeValue(forKey: "TROUPE_DATABASE_URL")
        for (k, v) in environment { env[k] = v }
        p.environment = env
        if let directory { p.currentDirectoryURL = directory }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Result(code: p.terminationStatus, out: String(decoding: o, as: UTF8.self), err: String(decoding: e, as: UTF8.self))
    }

    /// The repository's own topology.json.
    static let repoTopology = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("topology.json").path

    static func writeTopology(_ json: String) throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("topology-\(UUID().uuidString).json")
        try Data(json.utf8).write(to: url)
        return url.path
    }
}

@Suite struct CLITests {
    @Test func helpListsTheBriefsCommands() async throws {
        let r = try await CLI.run(["--help"])
        #expect(r.code == 0)
        for command in ["node", "up", "migrate", "partner", "publish", "dlq"] {
            #expect(r.out.contains("\n  \(command) "), "help lists \(command)")
        }
        let dlq = try await CLI.run(["dlq", "--help"])
        for sub in ["list", "replay", "purge"] { #expect(dlq.out.contains("\n  \(sub) ")) }
        #expect(try await CLI.run(["partner", "add", "--help"]).out.contains("USAGE: troupe partner add <name>"))
    }

    @Test(arguments: [
        (["frobnicate"], "Unexpected argument 'frobnicate'"),
        (["node"], "Missing expected argument '<name>'"),
        (["up", "--topology", "/nonexistent/topology.json"], "/nonexistent/topology.json: no such file"),
        (["dlq", "list", "kitchen"], "unknown component 'kitchen'"),
        (["publish", "order.created", "not json"], "JSON must be a JSON object"),
        (["dlq", "replay", "payment"], "give exactly one of --id ID or --all"),
    ])
    func badInputIsOneLineNamingItWithExitCode2(args: [String], expected: String) async throws {
        // every command but the unknown one is given the repository's topology
        let r = try await CLI.run(args.first == "frobnicate" || args.contains("--topology") ? args : args + ["--topology", CLI.repoTopology])
        #expect(r.code == 2, "\(args): \(r.err)")
        #expect(r.err.contains(expected), "\(args): \(r.err)")
        #expect(r.err.split(separator: "\n").count == 1, "one line: \(r.err)")
        #expect(r.err.hasPrefix("troupe: "))
        #expect(r.out.isEmpty)
    }

    @Test func upCheckReportsTheTopologyItReadAndExitsCleanly() async throws {
        let r = try await CLI.run(["up", "--check", "--topology", CLI.repoTopology])
        #expect(r.code == 0, "\(r.err)")
        #expect(r.out.contains("3 node(s)"))
        #expect(r.out.contains("node orders: order-queue×2, inventory×1, payment×1 (4 database connections)"))
        #expect(r.out.contains("amqp://guest:***@127.0.0.1:5679/%2F"), "the password is masked")
        #expect(!r.out.contains("troupe:troupe@"), "the database password is masked")
    }

    @Test func aNodesDatabaseConnectionsComeFromTheTopology() async throws {
        let all = #"[{"name": "order-queue"}, {"name": "brand-sync"}, {"name": "inventory"}, {"name": "payment"}, {"name": "notification"}, {"name": "analytics"}]"#
        let json = #"{"broker": {"url": "amqp://h"}, "database": {"url": "postgres://h/db"}, "nodes": [{"name": "a", "databaseConnections": 2, "components": \#(all)}, {"name": "b"}]}"#
        let r = try await CLI.run(["up", "--check", "--topology", try CLI.writeTopology(json)])
        #expect(r.code == 0, "\(r.err)")
        #expect(r.out.contains("node a: order-queue×1, brand-sync×1, inventory×1, payment×1, notification×1, analytics×1 (2 database connections)"), "\(r.out)")
        #expect(r.out.contains("node b: (nothing) (4 database connections)"), "\(r.out)")
    }

    /// Issue 16 §6: the public development card key is refused for a database that is not on loopback.
    @Test func aNodeWithCardsNeedsACardKeyUnlessTheDatabaseIsOnLoopback() async throws {
        let json = #"{"broker": {"url": "amqp://h"}, "database": {"url": "postgres://db.example/x"}, "nodes": [{"name": "a", "components": [{"name": "order-queue"}, {"name": "brand-sync"}, {"name": "inventory"}, {"name": "payment"}, {"name": "notification"}, {"name": "analytics"}]}]}"#
        let r = try await CLI.run(["node", "a", "--topology", try CLI.writeTopology(json)])
        #expect(r.code == 2, "\(r.err)")
        #expect(r.err.contains("security.cardKey: is required for a database that is not on loopback (db.example)"), "\(r.err)")
        let bad = try await CLI.run(["up", "--check", "--topology", try CLI.writeTopology(json)], environment: ["TROUPE_CARD_KEY": "c2hvcnQ="])
        #expect(bad.code == 2)
        #expect(bad.err.contains("TROUPE_CARD_KEY: must be 32 bytes, got 5"), "\(bad.err)")
    }

    @Test func environmentOverridesTheTopologyURLs() async throws {
        let r = try await CLI.run(["up", "--check", "--topology", CLI.repoTopology],
                            environment: ["TROUPE_AMQP_URL": "amqp://u:p@10.1.2.3:5672/%2F", "TROUPE_DATABASE_URL": "postgres://a:b@db:5432/x"])
        #expect(r.code == 0, "\(r.err)")
        #expect(r.out.contains("amqp://u:***@10.1.2.3:5672/%2F"))
        #expect(r.out.contains("postgres://a:***@db:5432/x"))
        let bad = try await CLI.run(["up", "--check", "--topology", CLI.repoTopology], environment: ["TROUPE_DATABASE_URL": "mysql://x"])
        #expect(bad.code == 2)
        #expect(bad.err.contains("TROUPE_DATABASE_URL: 'mysql://x' is not a postgres:// URL"))
    }

    @Test func migrateAppliesTheMigrationsOnceAndNamesAnUnreachableDatabase() async throws {
        let url = ProcessInfo.processInfo.environment["TROUPE_DATABASE_URL"] ?? "postgresql://troupe:troupe@127.0.0.1:5439/troupe"
        let first = try await CLI.run(["migrate", "--topology", CLI.repoTopology], environment: ["TROUPE_DATABASE_URL": url])
        #expect(first.code == 0, "\(first.err)")
        #expect(first.out.contains("migration(s) applied") || first.out.contains("is up to date"), "\(first.out)")
        let again = try await CLI.run(["migrate", "--topology", CLI.repoTopology], environment: ["TROUPE_DATABASE_URL": url])
        #expect(again.code == 0)
        #expect(again.out.contains("is up to date"), "\(again.out)")
        #expect(!again.out.contains("troupe:troupe@"), "the password is masked")

        let down = try await CLI.run(["migrate", "--topology", CLI.repoTopology],
                               environment: ["TROUPE_DATABASE_URL": "postgresql://troupe:s3cret@127.0.0.1:1/troupe"])
        #expect(down.code == 69)
        #expect(down.err.hasPrefix("troupe: cannot reach PostgreSQL at postgresql://troupe:***@127.0.0.1:1/troupe"), "\(down.err)")
        #expect(!down.err.contains("s3cret"))
        #expect(down.err.split(separator: "\n").count == 1)
    }

    @Test(arguments: [
        ("{", "is not valid JSON"),
        (#"{"broker": {"url": "amqp://h"}, "database": {"url": "postgres://h/db"}, "nodes": []}"#, "nodes: must list at least one node"),
        (#"{"broker": {"url": "amqp://h"}, "database": {"url": "postgres://h/db"}, "nodes": [{"name": "a", "components": [{"name": "kitchen"}]}]}"#,
         "nodes[0].components[0].name: unknown component 'kitchen'"),
        (#"{"broker": {"url": "amqp://h"}, "database": {"url": "postgres://h/db"}, "nodes": [{"name": "a", "componets": []}]}"#,
         "nodes[0].componets: unknown key"),
        (#"{"broker": {"url": "http://h"}, "database": {"url": "postgres://h/db"}, "nodes": [{"name": "a", "components": [{"name": "order-queue"}, {"name": "brand-sync"}, {"name": "inventory"}, {"name": "payment"}, {"name": "notification"}, {"name": "analytics"}]}]}"#,
         "broker.url: 'http://h' is not a amqp:// URL"),
        (#"{"broker": {"url": "amqp://h", "queueType": "fast"}, "database": {"url": "postgres://h/db"}, "nodes": [{"name": "a"}]}"#,
         "broker.queueType: must be one of: classic, quorum"),
    ])
    func invalidTopologiesAreRefusedNamingThePath(json: String, expected: String) async throws {
        let path = try CLI.writeTopology(json)
        let r = try await CLI.run(["up", "--check", "--topology", path])
        #expect(r.code == 2)
        #expect(r.err.contains(expected), "\(r.err)")
    }

    @Test func duplicateNodesPortClashesAndUnhostedComponentsAreRefused() async throws {
        let all = #"[{"name": "order-queue"}, {"name": "brand-sync"}, {"name": "inventory"}, {"name": "payment"}, {"name": "notification"}, {"name": "analytics"}]"#
        let head = #"{"broker": {"url": "amqp://h"}, "database": {"url": "postgres://h/db"}, "nodes": "#
        let cases = [
            (head + #"[{"name": "a", "components": \#(all)}, {"name": "a"}]}"#, "nodes[1].name: duplicate node name 'a'"),
            (head + #"[{"name": "a", "http": {"port": 8080}, "components": \#(all)}, {"name": "b", "http": {"port": 8080}}]}"#,
             "nodes[1].http.port: port clash: 127.0.0.1:8080"),
            (head + #"[{"name": "a", "components": [{"name": "payment"}]}]}"#, "nodes: no node hosts component 'order-queue'"),
            (head + #"[{"name": "a", "components": \#(all), "http": {"port": 70000}}]}"#, "nodes[0].http.port: must be between 1 and 65535"),
            (head + #"[{"name": "a", "components": \#(all), "databaseConnections": 0}]}"#, "nodes[0].databaseConnections: must be between 1 and 64"),
            // Issue 19: BrandSync's settings and the database's schema.
            (#"{"broker": {"url": "amqp://h"}, "database": {"url": "postgres://h/db", "schema": "Bad-Name"}, "nodes": [{"name": "a", "components": \#(all)}]}"#,
             "database.schema: 'Bad-Name' must be 1 to 63 lowercase letters"),
            (#"{"broker": {"url": "amqp://h"}, "database": {"url": "postgres://h/db"}, "brandSync": {"catalogLimit": {"calls": 0}}, "nodes": [{"name": "a", "components": \#(all)}]}"#,
             "brandSync.catalogLimit.calls: must be between 1 and 1000000"),
            (#"{"broker": {"url": "amqp://h"}, "database": {"url": "postgres://h/db"}, "brandSync": {"every": "often"}, "nodes": [{"name": "a", "components": \#(all)}]}"#,
             "brandSync.every:"),
            // Issue 21: the quarantine and the node-failure policy.
            (#"{"broker": {"url": "amqp://h", "quarantineAfter": 1}, "database": {"url": "postgres://h/db"}, "nodes": [{"name": "a", "components": \#(all)}]}"#,
             "broker.quarantineAfter: must be between 2 and 1000"),
            (#"{"broker": {"url": "amqp://h"}, "database": {"url": "postgres://h/db"}, "onNodeFailure": "shrug", "nodes": [{"name": "a", "components": \#(all)}]}"#,
             "onNodeFailure: must be one of: hold, stopAll"),
            (#"{"broker": {"url": "amqp://h"}, "database": {"url": "postgres://h/db"}, "nodeRestarts": {"holdFor": "2m", "maxHold": "1m"}, "nodes": [{"name": "a", "components": \#(all)}]}"#,
             "nodeRestarts.maxHold: must not be shorter than holdFor"),
            (#"{"broker": {"url": "amqp://h"}, "database": {"url": "postgres://h/db"}, "nodeRestarts": {"maximum": 3}, "nodes": [{"name": "a", "components": \#(all)}]}"#,
             "nodeRestarts.maximum: unknown key"),
        ]
        for (json, expected) in cases {
            let r = try await CLI.run(["node", "a", "--topology", try CLI.writeTopology(json)])
            #expect(r.code == 2)
            #expect(r.err.contains(expected), "\(r.err)")
        }
    }
}
