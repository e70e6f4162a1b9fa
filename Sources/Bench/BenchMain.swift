import Foundation

/// `troupe-bench AREA`: prints one line per figure, `AREA.case value unit`. Each area measures its
/// baseline in the same run, because these machines are shared and noisy.
@main
struct BenchMain {
    static let areas: [String: @Sendable () async -> Void] = [
        "local": LocalBench.run,
    ]

    static func main() async {
        let args = CommandLine.arguments.dropFirst()
        guard let area = args.first, let run = areas[area] else {
            let known = areas.keys.sorted().joined(separator: ", ")
            FileHandle.standardError.write(Data("usage: troupe-bench AREA   (areas: \(known))\n".utf8))
            exit(2)
        }
        await run()
    }
}

/// Prints one figure line.
func report(_ name: String, _ value: Double, _ unit: String) {
    let text = value >= 100 ? String(format: "%.0f", value) : String(format: "%.3f", value)
    FileHandle.standardOutput.write(Data("\(name) \(text) \(unit)\n".utf8))
}

/// Seconds taken by `body`.
func measure(_ body: () async -> Void) async -> Double {
    let clock = ContinuousClock()
    let start = clock.now
    await body()
    let d = clock.now - start
    return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}

/// Peak resident set size of this process, in MiB.
func peakRSSMiB() -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return Double(usage.ru_maxrss) / 1024
}
