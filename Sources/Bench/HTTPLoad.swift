import Bridges
import Foundation
import Logging
import Synchronization

/// Load from keep-alive connections, each driven by a thread of its own (``HTTPLoadConnection``): as fast as
/// the server answers, or paced to a rate. Every answer must have the expected status.
enum HTTPLoad {
    struct Failure: Error, CustomStringConvertible { let description: String }

    final class Tally: Sendable {
        let next = Atomic<Int>(0)
        let latencies = Mutex<[Double]>([])
        /// Each request's start (ms after the first) and latency, in the order they ended (``flat``).
        let samples = Mutex<[(startMs: Double, ms: Double)]>([])
    }

    /// Sends `total` requests (`request(i)`) from `clients` connections as fast as they are answered;
    /// returns the rate, the latencies in ms (sorted), and each request's start and latency. An answer
    /// other than `expect` fails the run, naming `what` was asked.
    static func flat(host: String, port: Int, total: Int, clients: Int, expect: Int, what: String = "the server",
                     _ request: @escaping @Sendable (Int) -> [UInt8]) async throws
        -> (perSecond: Double, ms: [Double], samples: [(startMs: Double, ms: Double)]) {
        let tally = Tally()
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for n in 0..<clients {
                group.addTask {
                    try await DedicatedThread.run("bench.client.\(n)") {
                        let connection = try HTTPLoadConnection(host: host, port: port)
                        while true {
                            let i = tally.next.add(1, ordering: .relaxed).oldValue
                            if i >= total { return }
                            let sent = ContinuousClock.now, startMs = seconds(since: start) * 1000
                            let response = try connection.exchange(request(i))
                            guard response.status == expect else {
                                throw Failure(description: "\(what) answered \(response.status): \(String(decoding: response.body, as: UTF8.self).prefix(200))")
                            }
                            let ms = seconds(since: sent) * 1000
                            tally.samples.withLock { $0.append((startMs, ms)) }
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let samples = tally.samples.withLock { $0 }
        return (Double(total) / seconds(since: start), samples.map(\.ms).sorted(), samples)
    }

    /// Sends `perSecond` requests a second for `duration`, spread over `clients` connections (each sends
    /// its share on a fixed schedule, so a slow answer shows as latency, not as a lower rate); returns the
    /// latencies in ms (sorted), measured from when each request was due.
    static func paced(host: String, port: Int, perSecond: Double, duration: Duration, clients: Int, expect: Int,
                      _ request: @escaping @Sendable (Int) -> [UInt8]) async throws -> [Double] {
        let tally = Tally()
        let interval = Double(clients) / perSecond, count = Int(duration.inSeconds * perSecond / Double(clients))
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for n in 0..<clients {
                group.addTask {
                    try await DedicatedThread.run("bench.paced.\(n)") {
                        let connection = try HTTPLoadConnection(host: host, port: port)
                        let offset = interval * Double(n) / Double(clients)
                        for k in 0..<count {
                            let due = start + .seconds(offset + interval * Double(k))
                            let wait = due - ContinuousClock.now
                            if wait > .zero { Thread.sleep(forTimeInterval: wait.inSeconds) }
                            let response = try connection.exchange(request(n * count + k))
                            guard response.status == expect else { throw Failure(description: "answered \(response.status)") }
                            let ms = (ContinuousClock.now - due).inSeconds * 1000
                            tally.latencies.withLock { $0.append(ms) }
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        return tally.latencies.withLock { $0.sorted() }
    }

    /// For the bench's own servers: their start and stop lines would mix with the figures.
    static let quietLogger: Logger = {
        var logger = Logger(label: "troupe-bench.http")
        logger.logLevel = .critical
        return logger
    }()

    static func percentile(_ sorted: [Double], _ p: Double) -> Double {
        sorted.isEmpty ? .nan : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
    }

    /// A free TCP port on 127.0.0.1 (bound, read, released).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard ok else { throw Failure(description: "no free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// GETs `path` until it answers 200 (a server starting), up to `timeout`.
    static func awaitReady(host: String, port: Int, path: String, timeout: Duration = .seconds(60)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let ok = (try? await DedicatedThread.run("bench.ready") {
                try HTTPLoadConnection(host: host, port: port).exchange(Array("GET \(path) HTTP/1.1\r\nhost: \(host)\r\n\r\n".utf8)).status == 200
            }) ?? false
            if ok { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw Failure(description: "\(host):\(port)\(path) did not answer 200 within \(timeout)")
    }
}
