import DequeModule
import Synchronization

/// Gathers the small writes of concurrent callers into batches, each run on one connection as a few
/// set-based statements: many requests then share their round trips and one commit (one WAL flush).
/// Group commit done by the application, for hot paths such as accepting orders.
///
/// A writer takes everything queued (up to `maxBatch`) whenever it is free, so a lone caller is written
/// at once and a crowd in batches as large as the load makes them; at most `writers` batches are in
/// flight. A batch that fails with a retryable error (deadlock, lost connection) is run again; one that
/// fails otherwise is split, so a bad input fails alone.
public final class PostgresBatcher<Input: Sendable, Output: Sendable>: Sendable {
    /// Writes `inputs` on the connection; returns one result per input, in order.
    public typealias Body = @Sendable (_ inputs: [Input], PostgresConnection) throws -> [Result<Output, any Error>]

    private struct Waiting {
        let input: Input
        let continuation: CheckedContinuation<Output, any Error>
    }

    private struct State {
        var queue = Deque<Waiting>()
        var writers = 0
    }

    private let pool: PostgresPool
    private let writers: Int
    private let maxBatch: Int
    private let maxAttempts: Int
    private let body: Body
    private let state = Mutex(State())

    public init(pool: PostgresPool, writers: Int = 2, maxBatch: Int = 256, maxAttempts: Int = 5, body: @escaping Body) {
        self.pool = pool
        self.writers = max(1, writers)
        self.maxBatch = max(1, maxBatch)
        self.maxAttempts = max(1, maxAttempts)
        self.body = body
    }

    /// Writes `input` in the next batch and returns its result.
    public func submit(_ input: Input) async throws -> Output {
        try await withCheckedThrowingContinuation { continuation in
            let startWriter = state.withLock { s -> Bool in
                s.queue.append(Waiting(input: input, continuation: continuation))
                guard s.writers < writers else { return false }
                s.writers += 1
                return true
            }
            if startWriter { Task { await self.write() } }
        }
    }

    /// Writes batches until the queue is empty.
    private func write() async {
        while let batch = nextBatch() {
            await run(batch)
        }
    }

    private func nextBatch() -> [Waiting]? {
        state.withLock { s in
            guard !s.queue.isEmpty else {
                s.writers -= 1
                return nil
            }
            let n = min(maxBatch, s.queue.count)
            defer { s.queue.removeFirst(n) }
            return Array(s.queue.prefix(n))
        }
    }

    private func run(_ batch: [Waiting]) async {
        let inputs = batch.map(\.input)
        var attempt = 1
        while true {
            do {
                let body = self.body
                let results = try await pool.withConnection { db in try body(inputs, db) }
                guard results.count == batch.count else {
                    let error = PostgresError(.decoding, "a batch of \(batch.count) returned \(results.count) results")
                    return batch.forEach { $0.continuation.resume(throwing: error) }
                }
                for (waiting, result) in zip(batch, results) { waiting.continuation.resume(with: result) }
                return
            } catch let error as PostgresError where error.isRetryable && attempt < maxAttempts {
                try? await Task.sleep(for: .milliseconds(5 * attempt * attempt))
                attempt += 1
            } catch {
                guard batch.count > 1 else { return batch[0].continuation.resume(throwing: error) }
                for waiting in batch { await run([waiting]) }
                return
            }
        }
    }
}
