import Dispatch
import Synchronization

/// Runs async work from one of Troupe's dedicated threads and blocks that thread until the work ends:
/// for the rare place a blocking C session must stay open across an `await`, such as the outbox relay's
/// transaction held until the broker confirmed what it deleted. Never call it on the cooperative pool,
/// whose few threads it would block.
enum BlockingWait {
    private final class Outcome<T: Sendable>: Sendable {
        let result = Mutex<Result<T, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
    }

    static func run<T: Sendable>(_ work: @escaping @Sendable () async throws -> T) throws -> T {
        let outcome = Outcome<T>()
        Task {
            let result: Result<T, any Error>
            do { result = .success(try await work()) } catch { result = .failure(error) }
            outcome.result.withLock { $0 = result }
            outcome.done.signal()
        }
        outcome.done.wait()
        return try outcome.result.withLock { $0! }.get()
    }
}
