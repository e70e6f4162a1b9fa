import Synchronization

/// What an unstructured task ended with, once it ended: a test awaits it with `eventually`, so work that
/// never returns fails the test by a deadline instead of hanging it.
final class Outcome<T: Sendable>: Sendable {
    private let state = Mutex<Result<T, any Error>?>(nil)
    func set(_ r: Result<T, any Error>) { state.withLock { $0 = r } }
    var value: Result<T, any Error>? { state.withLock { $0 } }

    /// Runs `work` in a task of its own and records how it ended.
    static func of(_ work: @escaping @Sendable () async throws -> T) -> Outcome<T> {
        let outcome = Outcome<T>()
        Task {
            do { outcome.set(.success(try await work())) } catch { outcome.set(.failure(error)) }
        }
        return outcome
    }
}
