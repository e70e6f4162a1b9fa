import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Ends a node whose graceful shutdown overran its limit, saying what did not stop, with exit code 70. A handler
/// stuck in a call can ignore shutdown and cancellation alike; then swift-service-lifecycle's own limit ends the
/// process with a `Fatal error` trace, or, once the group has given up on it, the process hangs in its last
/// waits (the database connections). The watchdog's clock runs on a thread of its own, so a blocked cooperative
/// pool cannot hold it back.
final class ShutdownWatchdog: Sendable {
    /// The process's one watchdog: what it tracks is the process's.
    static let shared = ShutdownWatchdog()
    /// The exit code of a node ended by the watchdog (EX_SOFTWARE).
    static let exitCode: Int32 = 70

    private let running = Mutex<[String: Int]>([:])
    private let armed = Atomic<Bool>(false)

    /// Runs `work` under `name` in the list of what a shutdown waits for.
    func tracking<T>(_ name: String, _ work: () async throws -> T) async rethrows -> T {
        running.withLock { $0[name, default: 0] += 1 }
        defer {
            running.withLock {
                $0[name, default: 1] -= 1
                if $0[name] == 0 { $0[name] = nil }
            }
        }
        return try await work()
    }

    /// What is running now, in name order.
    var stillRunning: [String] { running.withLock { $0.keys.sorted() } }

    /// Starts the clock (once): if the process still runs after `limit`, logs what did not stop and exits.
    func arm(limit: Duration, logger: Logger) {
        guard !armed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let seconds = limit.inSeconds
        Thread.detachNewThread {
            Thread.sleep(forTimeInterval: seconds)
            let names = self.stillRunning
            let what = names.isEmpty ? "nothing tracked (the process's last waits)" : names.joined(separator: ", ")
            logger.error("shutdown overran its limit of \(limit); still running: \(what); ending the node with exit code \(Self.exitCode)")
            fflush(nil)
            _exit(Self.exitCode)
        }
    }
}

/// A node's service that arms the ``ShutdownWatchdog`` when the group's graceful shutdown begins (a signal, or a
/// service that failed), then returns at once.
struct ShutdownWatchdogService: Service {
    let limit: Duration
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        ShutdownWatchdog.shared.arm(limit: limit, logger: logger)
    }
}

/// A service whose run is tracked by the ``ShutdownWatchdog`` under its name.
struct TrackedService: Service {
    let name: String
    let service: any Service

    func run() async throws {
        try await ShutdownWatchdog.shared.tracking(name) { try await service.run() }
    }
}
