import Foundation
import Logging

/// `troupe-bench AREA`: prints one line per figure, `AREA.case value unit`. Each area measures its
/// baseline in the same run, because these machines are shared and noisy.
@main
struct BenchMain {
    /// Each area's run, and what to check when it fails (printed with the error; the bench then exits 1).
    static let areas: [String: (run: @Sendable () async throws -> Void, hint: String)] = [
        "local": (LocalBench.run, ""),
        "amqp": (AMQPBench.run, servicesHint),
        "orders": (OrdersBench.run, "is Troupe running? scripts/run.sh"),
        "analytics": (AnalyticsBench.run, servicesHint),
        "notify": (NotifyBench.run, servicesHint),
        "payments": (PaymentsBench.run, servicesHint + "; build troupe first: swift build -c release --product troupe"),
        "codes": (CodesBench.run, servicesHint + "; build troupe first: swift build -c release --product troupe"),
        "catalog": (CatalogBench.run, servicesHint + "; build troupe-vendor-sim first: swift build -c release --product troupe-vendor-sim"),
    ]
    static let servicesHint = "are the services up? scripts/services.sh start"

    static func main() async {
        // Figures go to stdout, one per line; logs (migrations, servers) only when they matter, to stderr.
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .warning
            return handler
        }
        let args = CommandLine.arguments.dropFirst()
        guard let area = args.first, let (run, hint) = areas[area] else {
            let known = areas.keys.sorted().joined(separator: ", ")
            FileHandle.standardError.write(Data("usage: troupe-bench AREA   (areas: \(known))\n".utf8))
            exit(2)
        }
        do {
            try await run()
        } catch {
            FileHandle.standardError.write(Data("troupe-bench \(area): \(error) (\(hint))\n".utf8))
            exit(1)
        }
    }
}

/// Prints one figure line.
func report(_ name: String, _ value: Double, _ unit: String) {
    let text = value >= 100 ? String(format: "%.0f", value) : String(format: "%.3f", value)
    FileHandle.standardOutput.write(Data("\(name) \(text) \(unit)\n".utf8))
}

/// Seconds taken by `body`.
func measure(_ body: () async -> Void) async -> Double {
    let start = ContinuousClock.now
    await body()
    return seconds(since: start)
}

/// Seconds from `start` to now.
func seconds(since start: ContinuousClock.Instant) -> Double {
    let d = ContinuousClock.now - start
    return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}

/// A one-shot signal that actors fire when a benchmark's work is all done, and the run awaits.
struct Completion: Sendable {
    let fire: @Sendable () -> Void
    private let stream: AsyncStream<Void>

    init() {
        let (stream, continuation) = AsyncStream<Void>.makeStream()
        self.stream = stream
        fire = { continuation.yield(); continuation.finish() }
    }

    func wait() async { for await _ in stream { break } }
}

/// Resident set size of this process now, in bytes (/proc/self/statm).
func currentRSSBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}

/// Peak resident set size of this process, in MiB.
func peakRSSMiB() -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return Double(usage.ru_maxrss) / 1024
}
