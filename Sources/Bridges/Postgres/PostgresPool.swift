import DequeModule
import Foundation
import Logging
import Synchronization

/// A fixed set of PostgreSQL connections, each owned by a dedicated thread, so libpq's blocking calls
/// never run on Swift's cooperative pool. Work is a closure run on whichever connection is free:
///
///     let n = try await pool.transaction { db in
///         try db.query("UPDATE wallets SET balance = balance - $1 WHERE id = $2", [amount, id]).affectedRows
///     }
///
/// A connection found broken (server restart, `pg_terminate_backend`) is discarded and replaced on the
/// next job; ``transaction(maxAttempts:_:)`` runs the whole transaction again after a serialization
/// failure, a deadlock or a lost connection.
public final class PostgresPool: Sendable {
    /// How many connections, and how to reach the server.
    public struct Configuration: Sendable {
        public var url: String
        public var size: Int
        public var connectTimeout: Int
        public var applicationName: String
        /// The schema unqualified names resolve to (`search_path`); nil keeps the server's default.
        public var schema: String?
        public init(url: String, size: Int = 4, connectTimeout: Int = 5, applicationName: String = "troupe", schema: String? = nil) {
            self.url = url
            self.size = max(1, size)
            self.connectTimeout = connectTimeout
            self.applicationName = applicationName
            self.schema = schema
        }
    }

    private struct Job {
        let run: @Sendable (PostgresConnection?, PostgresError?) -> Void
    }

    private struct State {
        var jobs = Deque<Job>()
        var closed = false
        var running = 0
    }

    private let configuration: Configuration
    private let logger: Logger
    private let state = Mutex(State())
    private let signal = NSCondition()
    private let replaced = Atomic<Int>(0)
    private let stopped = StopLatch()

    public init(_ configuration: Configuration, logger: Logger = Logger(label: "troupe.postgres")) {
        self.configuration = configuration
        self.logger = logger
        state.withLock { $0.running = configuration.size }
        for i in 0..<configuration.size {
            DedicatedThread.start("troupe.pg.\(i)") { [self] in serve() }
        }
    }

    /// Connections replaced after they broke (for metrics and tests).
    public var replacedConnections: Int { replaced.load(ordering: .relaxed) }

    /// Runs `body` on a connection of the pool and returns its result.
    @discardableResult
    public func withConnection<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, any Error>) in
            let job = Job { connection, error in
                guard let connection else { return c.resume(throwing: error ?? PostgresError(.connection, "no connection")) }
                c.resume(with: Result { try body(connection) })
            }
            let accepted = state.withLock { s -> Bool in
                guard !s.closed else { return false }
                s.jobs.append(job)
                return true
            }
            guard accepted else { return c.resume(throwing: PostgresError(.closed, "the pool was shut down")) }
            wake(all: false)
        }
    }

    /// Runs `body` in a transaction (COMMIT on return, ROLLBACK on throw), again from the start after a
    /// serialization failure, deadlock or lost connection, up to `maxAttempts` times in all.
    ///
    /// A connection lost during COMMIT leaves unknown whether it committed, and the retry runs `body`
    /// again: make such work idempotent (the inbox does, by its primary key).
    @discardableResult
    public func transaction<T: Sendable>(maxAttempts: Int = 5, _ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        var attempt = 1
        while true {
            do {
                return try await withConnection { try $0.transaction(body) }
            } catch let error as PostgresError where error.isRetryable && attempt < maxAttempts {
                logger.debug("transaction retried", metadata: ["attempt": "\(attempt)", "reason": "\(error)"])
                try? await Task.sleep(for: .milliseconds(5 * attempt * attempt))
                attempt += 1
            }
        }
    }

    /// Lets queued jobs finish, then closes every connection.
    public func shutdown() async {
        state.withLock { $0.closed = true }
        wake(all: true)
        await stopped.wait()
    }

    private func wake(all: Bool) {
        signal.lock()
        if all { signal.broadcast() } else { signal.signal() }
        signal.unlock()
    }

    // MARK: the connection threads

    private func serve() {
        var connection: PostgresConnection?
        while let job = nextJob() {
            if connection?.isUsable != true {
                if connection != nil {
                    replaced.add(1, ordering: .relaxed)
                    logger.warning("PostgreSQL connection broke; reconnecting")
                }
                connection = nil
                do {
                    connection = try PostgresConnection(url: configuration.url, applicationName: configuration.applicationName,
                                                        connectTimeout: configuration.connectTimeout, schema: configuration.schema)
                } catch {
                    job.run(nil, error)
                    continue
                }
            }
            job.run(connection, nil)
        }
        connection = nil
        if state.withLock({ s in s.running -= 1; return s.running == 0 }) { stopped.open() }
    }

    /// Blocks until a job is queued; nil once the pool is closed and drained.
    private func nextJob() -> Job? {
        signal.lock()
        defer { signal.unlock() }
        while true {
            let (job, closed) = state.withLock { s in (s.jobs.popFirst(), s.closed) }
            if let job { return job }
            if closed { return nil }
            signal.wait()
        }
    }
}
