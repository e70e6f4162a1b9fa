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
    public static func run<T: Sendable>(_ name: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, any Error>) in
            start(name) {
                do { c.resume(returning: try body()) } catch { c.resume(throwing: error) }
            }
        }
    }
}
