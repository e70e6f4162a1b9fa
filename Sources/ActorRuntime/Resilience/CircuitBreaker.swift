import Synchronization

/// A thread-safe circuit breaker around ``CircuitBreakerState``: wrap calls to an outside system with
/// ``run(_:)`` so that a failing dependency is left alone for a cool-down instead of being hammered.
public final class CircuitBreaker: Sendable {
    /// Thrown instead of calling while the circuit is open.
    public struct OpenError: ClassifiedError, CustomStringConvertible {
        public let name: String
        public let retryAt: ContinuousClock.Instant
        public var disposition: FailureDisposition { .transient }
        public var description: String { "circuit breaker '\(name)' is open" }
    }

    public let name: String
    private let state: Mutex<CircuitBreakerState>
    private let now: @Sendable () -> ContinuousClock.Instant
    private let isFailure: @Sendable (any Error) -> Bool

    /// - Parameters:
    ///   - isFailure: which errors count against the dependency (default: all); e.g. a 4xx answer may not.
    ///   - now: the clock, injected by tests.
    public init(name: String, configuration: CircuitBreakerState.Configuration = .init(),
                isFailure: @escaping @Sendable (any Error) -> Bool = { _ in true },
                now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        self.name = name
        self.state = Mutex(CircuitBreakerState(configuration))
        self.isFailure = isFailure
        self.now = now
    }

    /// The current phase.
    public var phase: CircuitBreakerState.Phase { state.withLock { $0.phase } }

    /// True while calls are refused.
    public var isOpen: Bool { let t = now(); return state.withLock { $0.isOpen(at: t) } }

    /// Runs `body` if the circuit allows it, recording the outcome; throws ``OpenError`` otherwise.
    public func run<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        let t = now()
        if case .reject(let retryAt) = state.withLock({ $0.decide(at: t) }) {
            throw OpenError(name: name, retryAt: retryAt)
        }
        do {
            let value = try await body()
            let t2 = now()
            state.withLock { $0.recordSuccess(at: t2) }
            return value
        } catch {
            let t2 = now()
            if isFailure(error) { state.withLock { $0.recordFailure(at: t2) } } else { state.withLock { $0.recordSuccess(at: t2) } }
            throw error
        }
    }
}
