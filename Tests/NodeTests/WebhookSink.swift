import ActorRuntimeTesting
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

/// A partner's webhook endpoint for the tests: a real HTTP server on 127.0.0.1 that records every request
/// (raw body, signature, event id, when it came and when it was answered) and answers as a script says.
final class WebhookSink: Sendable {
    struct Received: Sendable {
        let name: String
        let body: [UInt8]
        let signature: String?
        let eventID: String?
        let at: ContinuousClock.Instant
    }

    /// What to answer the `nth` request (from 1) to `/hook/<name>`: a status, maybe a Retry-After, after a delay.
    /// A 3xx points to `/hook/<name>-moved`.
    typealias Script = @Sendable (_ name: String, _ nth: Int) -> (status: Int, retryAfter: Int?, delay: Duration)

    private final class Log: Sendable {
        let received = Mutex<[Received]>([])
        let answered = Mutex<[String: Int]>([:])
    }

    let port: Int
    private let log = Log()
    private let server: Task<Void, any Error>

    init(script: @escaping Script = { _, _ in (200, nil, .zero) }) async throws {
        port = try FreePort.pick(in: 40_000...49_999)
        let log = self.log
        let router = Router()
        router.post("/hook/:name") { request, context -> Response in
            let name = context.parameters.get("name") ?? ""
            let body = try await request.body.collect(upTo: 1 << 20)
            let nth = log.received.withLock { all in
                all.append(Received(name: name, body: Array(buffer: body), signature: request.headers[HTTPField.Name("troupe-signature")!],
                                    eventID: request.headers[HTTPField.Name("troupe-event-id")!], at: .now))
                return all.filter { $0.name == name }.count
            }
            let (status, retryAfter, delay) = script(name, nth)
            if delay > .zero { try? await Task.sleep(for: delay) }
            log.answered.withLock { $0[name, default: 0] += 1 }
            var response = Response(status: .init(code: status))
            if let retryAfter { response.headers[.retryAfter] = String(retryAfter) }
            if (300..<400).contains(status) { response.headers[.location] = "/hook/\(name)-moved" }   // redirects point next door
            return response
        }
        let (ready, signal) = AsyncStream.makeStream(of: Void.self)
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)),
                              onServerRunning: { _ in signal.yield() })
        server = Task { try await app.runService(gracefulShutdownSignals: []) }
        for await _ in ready { break }
    }

    func url(_ name: String) -> String { "http://127.0.0.1:\(port)/hook/\(name)" }

    func requests(_ name: String) -> [Received] { log.received.withLock { $0.filter { $0.name == name } } }

    /// Requests to `name` answered so far.
    func answered(_ name: String) -> Int { log.answered.withLock { $0[name] ?? 0 } }

    func stop() { server.cancel() }
}

/// The messages the project's SMTP server (aiosmtpd, scripts/services.sh) kept in its Maildir.
enum Mailbox {
    static let directory = ProcessInfo.processInfo.environment["TROUPE_MAILDIR"] ?? "\(FileManager.default.currentDirectoryPath)/.troupe/mail"

    /// The messages addressed to `address`, as text.
    static func messages(to address: String) throws -> [String] {
        let new = URL(fileURLWithPath: directory).appendingPathComponent("new")
        let files = (try? FileManager.default.contentsOfDirectory(at: new, includingPropertiesForKeys: nil)) ?? []
        return try files.compactMap { file in
            let text = try String(contentsOf: file, encoding: .utf8)
            return text.contains("\nTo: \(address)\n") || text.contains("\nTo: \(address)\r\n") ? text : nil
        }
    }
}
