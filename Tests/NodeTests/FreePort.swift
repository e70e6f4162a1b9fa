import ActorRuntimeTesting

/// A port for a test's listener: random within `range`, and free when picked (``TakenPort`` can take it).
/// Keep ranges below 32768, where Linux takes the local ports of outgoing connections from: a port there
/// may belong to a live connection of the suite itself (the edge then fails to listen and never answers).
enum FreePort {
    static func pick(in range: ClosedRange<Int>) throws -> Int {
        for _ in 0..<100 {
            let port = Int.random(in: range)
            if let taken = try? TakenPort(port: port) {
                taken.close()
                return port
            }
        }
        throw TestKitError("no free port in \(range) after 100 tries")
    }
}
