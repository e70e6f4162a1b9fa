import CLibPQ
import Foundation
import Glibc
import Logging
import Synchronization

/// `LISTEN channel` on a connection of its own, on a dedicated thread: calls `onWake` for every
/// notification, and also every `interval` (so a listener doubles as a poll timer, and a notification
/// lost while reconnecting is made up for by the next tick).
public final class PostgresListener: Sendable {
    private let url: String
    private let channel: String
    private let interval: Duration
    private let onWake: @Sendable () -> Void
    private let logger: Logger
    private let stopped = Atomic<Bool>(false)

    public init(url: String, channel: String, interval: Duration, logger: Logger = Logger(label: "troupe.postgres.listen"),
                onWake: @escaping @Sendable () -> Void) {
        // The channel is spliced into LISTEN (it cannot be a parameter): an identifier the program chooses.
        precondition(!channel.isEmpty && channel.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") },
                     "LISTEN channel must be letters, digits and _")
        self.url = url
        self.channel = channel
        self.interval = interval
        self.onWake = onWake
        self.logger = logger
        DedicatedThread.start("troupe.pg.listen") { [self] in run() }
    }

    /// Stops within one interval.
    public func stop() { stopped.store(true, ordering: .relaxed) }

    private func run() {
        var connection: PostgresConnection?
        var down = false
        let timeoutMs = Int32(max(1, interval.inSeconds * 1000))
        while !stopped.load(ordering: .relaxed) {
            if connection == nil {
                do {
                    let c = try PostgresConnection(url: url, applicationName: "troupe listen")
                    try c.query("LISTEN \(channel)")
                    connection = c
                    if down { logger.info("listening again", metadata: ["channel": "\(channel)"]) }
                    down = false
                    onWake()                                    // catch up on what happened meanwhile
                } catch {
                    if !down { logger.warning("cannot listen; polling only", metadata: ["channel": "\(channel)", "reason": "\(error)"]) }
                    down = true
                    usleep(UInt32(timeoutMs) * 1000)
                    onWake()
                    continue
                }
            }
            guard let c = connection else { continue }
            if c.waitForNotifications(milliseconds: timeoutMs) == nil { connection = nil }
            onWake()
        }
    }
}

extension PostgresConnection {
    /// Waits up to `milliseconds` for notifications and returns how many arrived; nil when the
    /// connection broke.
    func waitForNotifications(milliseconds: Int32) -> Int? {
        guard let conn = rawConnection, PQstatus(conn) == CONNECTION_OK else { return nil }
        var fds = [pollfd(fd: PQsocket(conn), events: Int16(POLLIN), revents: 0)]
        _ = poll(&fds, 1, milliseconds)
        guard PQconsumeInput(conn) == 1 else { return nil }
        var count = 0
        while let n = PQnotifies(conn) {
            count += 1
            PQfreemem(n)
        }
        return count
    }
}
