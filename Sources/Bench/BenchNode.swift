import Bridges
import Foundation

/// A `troupe node` of the same build (`troupe` beside `troupe-bench`), started by a benchmark with a
/// topology of its own: the real process, measured from outside.
struct BenchNode {
    struct Failure: Error, CustomStringConvertible { let description: String }

    static let env = ProcessInfo.processInfo.environment
    static let amqpURL = env["TROUPE_AMQP_URL"] ?? "amqp://guest:guest@127.0.0.1:5679/%2F"
    static let databaseURL = env["TROUPE_DATABASE_URL"] ?? "postgresql://troupe:troupe@127.0.0.1:5439/troupe"

    let process: ChildProcess
    let topology: URL

    /// Starts node `name` of a topology with `settings` (more top-level members, each ending in a comma) and
    /// `nodes` (the JSON array); its output and logs go to ``log``, beside the topology.
    static func start(_ name: String, settings: String, nodes: String) throws -> BenchNode {
        let troupe = ChildProcess.sibling("troupe")
        guard FileManager.default.isExecutableFile(atPath: troupe) else {
            throw Failure(description: "\(troupe) is missing: build it first (swift build -c release --product troupe)")
        }
        let topology = FileManager.default.temporaryDirectory.appendingPathComponent("troupe-bench-\(UUID().uuidString).json")
        try Data("""
            { "broker": { "url": "\(amqpURL)" }, "database": { "url": "\(databaseURL)" },
              "security": { "apiKeySecret": "bench-api-key-secret-0123456789" }, \(settings)
              "nodes": \(nodes) }
            """.utf8).write(to: topology)
        let log = topology.deletingPathExtension().appendingPathExtension("log").path
        let process = try ChildProcess.spawn(troupe, ["node", name, "--topology", topology.path], stdout: log + ".out", stderr: log)
        return BenchNode(process: process, topology: topology)
    }

    /// Where the node logs.
    var log: URL { topology.deletingPathExtension().appendingPathExtension("log") }

    /// Waits until the node logged that it started.
    func started(timeout: Duration = .seconds(60)) async throws {
        let deadline = ContinuousClock.now + timeout
        while !((try? String(contentsOf: log, encoding: .utf8))?.contains("node started") ?? false) {
            guard ContinuousClock.now < deadline else { throw Failure(description: "the node did not start (see \(log.path))") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// SIGTERM, and waits for it to end.
    func stop() async {
        process.send(SIGTERM)
        _ = await process.exit()
        for file in [topology, log, URL(fileURLWithPath: log.path + ".out")] { try? FileManager.default.removeItem(at: file) }
    }
}
