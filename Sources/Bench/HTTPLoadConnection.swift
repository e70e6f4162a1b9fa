import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One keep-alive HTTP/1.1 connection over a blocking socket, driven by one load-generating thread: what
/// `wrk` does, so the bench spends little CPU of its own per request on a machine it shares with the
/// system it measures (AsyncHTTPClient took ~0.3 ms of CPU per POST here, half of what the edge spent).
/// It reads responses framed by `content-length` only, which is how Hummingbird answers.
final class HTTPLoadConnection {
    struct Failure: Error, CustomStringConvertible { let description: String }

    private let fd: Int32
    private var received: [UInt8] = []

    /// Connects to `host:port` (an IPv4 address, as the bench's `BENCH_EDGE_URL` gives it); an answer that takes
    /// longer than `timeout` seconds fails the run.
    init(host: String, port: Int, timeout seconds: Int = 30) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
            close(fd)
            throw Failure(description: "not an IPv4 address: \(host)")
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw Failure(description: "connect to \(host):\(port): \(reason)")
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var timeout = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    /// Sends one complete request and returns the status code and body of its response.
    func exchange(_ request: [UInt8]) throws -> (status: Int, body: ArraySlice<UInt8>) {
        var sent = 0
        while sent < request.count {
            let n = request[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw Failure(description: "send: \(String(cString: strerror(errno)))") }
            sent += n
        }
        var headEnd: Int?
        while true {
            headEnd = Self.endOfHead(received)
            if headEnd != nil { break }
            try receive()
        }
        let head = String(decoding: received[..<headEnd!], as: UTF8.self)
        let lines = head.split(separator: "\r\n")
        guard let statusLine = lines.first, statusLine.hasPrefix("HTTP/1.1 "), let status = Int(statusLine.dropFirst(9).prefix(3)) else {
            throw Failure(description: "not an HTTP/1.1 response: \(head.prefix(80))")
        }
        guard let lengthLine = lines.first(where: { $0.lowercased().hasPrefix("content-length:") }),
              let length = Int(lengthLine.dropFirst(15).trimmingCharacters(in: .whitespaces)) else {
            throw Failure(description: "response without content-length: \(head.prefix(200))")
        }
        let total = headEnd! + length
        while received.count < total { try receive() }
        let body = received[headEnd!..<total]
        received.removeFirst(total)
        return (status, body)
    }

    private func receive() throws {
        let n = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 16_384) { chunk -> Int in
            let n = recv(fd, chunk.baseAddress, chunk.count, 0)
            if n > 0 { received.append(contentsOf: chunk[..<n]) }
            return n
        }
        guard n > 0 else { throw Failure(description: n == 0 ? "the server closed the connection" : "recv: \(String(cString: strerror(errno)))") }
    }

    /// The offset just past the blank line ending the head, if it has arrived.
    private static func endOfHead(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for i in 0...(bytes.count - 4) where bytes[i] == 13 && bytes[i + 1] == 10 && bytes[i + 2] == 13 && bytes[i + 3] == 10 {
            return i + 4
        }
        return nil
    }
}
