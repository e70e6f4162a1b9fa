import Foundation

/// Blocking C calls (librabbitmq, libpq) run on threads of their own, never on Swift's cooperative
/// pool, where two blocked calls would stall every task on a two-core machine.
public enum DedicatedThread {
    /// Starts `body` on a new named thread.
    public static func start(_ name: String, _ body: @escaping @Sendable () -> Void) {
        let thread = Thread(block: body)
        thread.name = name
        thread.start()
    }

    /// Runs `body` on a new named thread and returns its result.
    ///
    /// `@concurrent`: the caller hops off its actor for the wait and back after it. Left to run on the
    /// caller's executor (the package's `nonisolated(nonsending)` default), the release build (Swift 6.3.1)
    /// resumed an actor's code after the wait on the cooperative pool instead: `troupe up` aborted with
    /// "Incorrect actor executor assumption" at a node's second abnormal exit.
    @concurrent
    public static func run<T: Sendable>(_ name: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, any Error>) in
            start(name) {
                do { c.resume(returning: try body()) } catch { c.resume(throwing: error) }
            }
        }
    }
}
