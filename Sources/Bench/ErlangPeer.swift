import Foundation

/// The Erlang/OTP peer of `troupe-bench local`: `../shared/bench/pingpong.erl` (same ping-pong and
/// fan-in shapes), compiled and run in the same process run when `erlc` and `erl` are installed
/// (they come with rabbitmq-server). Returns nil, saying why on stderr, when it cannot run.
enum ErlangPeer {
    struct Rates { var pingpong = 0.0, fanin = 0.0 }

    static func run(pairs: Int, roundTrips: Int, repeats: Int) -> Rates? {
        let source = ProcessInfo.processInfo.environment["TROUPE_ERLANG_PEER"] ?? "../shared/bench/pingpong.erl"
        guard FileManager.default.fileExists(atPath: source),
              let erlc = which("erlc"), let erl = which("erl") else {
            FileHandle.standardError.write(Data("local: Erlang peer skipped (needs erlc, erl and \(source))\n".utf8))
            return nil
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("troupe-erlang-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        guard shell(erlc, ["-o", dir.path, source]) != nil else { return nil }
        var best = Rates()
        for _ in 0..<repeats {
            guard let out = shell(erl, ["-noshell", "-pa", dir.path, "-run", "pingpong", "main", "\(pairs)", "\(roundTrips)"]) else { return nil }
            for line in out.split(separator: "\n") {
                guard let rate = line.split(separator: " ").first(where: { $0.hasPrefix("rate=") }).flatMap({ Double($0.dropFirst(5)) }) else { continue }
                if line.contains("fanin") { best.fanin = max(best.fanin, rate) } else { best.pingpong = max(best.pingpong, rate) }
            }
        }
        return best.pingpong > 0 && best.fanin > 0 ? best : nil
    }

    private static func which(_ tool: String) -> String? {
        let paths = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        return paths.map { "\($0)/\(tool)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    private static func shell(_ tool: String, _ args: [String]) -> String? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return nil }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return p.terminationStatus == 0 ? String(decoding: data, as: UTF8.self) : nil
    }
}
