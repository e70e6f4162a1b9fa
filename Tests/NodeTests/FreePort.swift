import ActorRuntimeTesting
import Glibc

/// A port for a test's listener: random within `range`, and free when picked (a bind to it succeeds).
/// Keep ranges below 32768, where Linux takes the local ports of outgoing connections from: a port there
/// may belong to a live connection of the suite itself (the edge then fails to listen and never answers).
enum FreePort {
    static func pick(in range: ClosedRange<Int>) throws -> Int {
        for _ in 0..<100 {
            let port = Int.random(in: range)
            if bindable(port) { return port }
        }
        throw TestKitError("no free port in \(range) after 100 tries")
    }

    private static func bindable(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}
