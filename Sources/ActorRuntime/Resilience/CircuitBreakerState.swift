/// The circuit breaker as a pure state machine (closed / open / half-open). Callers pass the current
/// instant, so tests drive it without time passing; ``CircuitBreaker`` wraps it for concurrent use.
public struct CircuitBreakerState: Sendable {
    public struct Configuration: Sendable, Hashable {
        /// Consecutive failures that open the circuit.
        public var failureThreshold: Int
        /// How long it stays open before letting one trial call through.
        public var coolDown: Duration
        /// Consecutive successful trials in half-open that close it again.
        public var successThreshold: Int
        /// How long a half-open trial may take: one that has not reported by then counts as failed (the
        /// circuit opens again), so a trial that never returns cannot keep the circuit half-open for ever.
        public var trialTimeout: Duration

        public init(failureThreshold: Int = 5, coolDown: Duration = .seconds(30), successThreshold: Int = 1,
                    trialTimeout: Duration = .seconds(30)) {
            self.failureThreshold = max(1, failureThreshold)
            self.coolDown = coolDown
            self.successThreshold = max(1, successThreshold)
            self.trialTimeout = trialTimeout
        }
    }

    public enum Phase: Sendable, Hashable {
        case closed(consecutiveFailures: Int)
        case open(until: ContinuousClock.Instant)
        /// Trials let through one at a time; `trialSince` is when the one in flight started (nil: none).
        case halfOpen(successes: Int, trialSince: ContinuousClock.Instant?)
    }

    public enum Decision: Sendable, Hashable {
        /// Make the call and report its outcome.
        case allow
        /// Do not call; try again after this instant.
        case reject(retryAt: ContinuousClock.Instant)
    }

    public let configuration: Configuration
    public private(set) var phase: Phase = .closed(consecutiveFailures: 0)

    public init(_ configuration: Configuration) { self.configuration = configuration }

    /// Whether a call may go ahead now.
    public mutating func decide(at now: ContinuousClock.Instant) -> Decision {
        switch phase {
        case .closed:
            return .allow
        case .open(let until):
            guard now >= until else { return .reject(retryAt: until) }
            phase = .halfOpen(successes: 0, trialSince: now)
            return .allow
        case .halfOpen(_, let since?):
            let due = since + configuration.trialTimeout
            guard now >= due else { return .reject(retryAt: due) }
            phase = .open(until: now + configuration.coolDown)          // the trial never reported: a failure
            return .reject(retryAt: now + configuration.coolDown)
        case .halfOpen(let successes, nil):
            phase = .halfOpen(successes: successes, trialSince: now)
            return .allow
        }
    }

    /// Reports a successful call.
    public mutating func recordSuccess(at now: ContinuousClock.Instant) {
        switch phase {
        case .closed: phase = .closed(consecutiveFailures: 0)
        case .open: break
        case .halfOpen(let successes, _):
            phase = successes + 1 >= configuration.successThreshold
                ? .closed(consecutiveFailures: 0) : .halfOpen(successes: successes + 1, trialSince: nil)
        }
    }

    /// Reports a failed call.
    public mutating func recordFailure(at now: ContinuousClock.Instant) {
        switch phase {
        case .closed(let n):
            phase = n + 1 >= configuration.failureThreshold ? .open(until: now + configuration.coolDown) : .closed(consecutiveFailures: n + 1)
        case .open: break
        case .halfOpen: phase = .open(until: now + configuration.coolDown)
        }
    }

    /// True while calls are refused.
    public func isOpen(at now: ContinuousClock.Instant) -> Bool {
        if case .open(let until) = phase { return now < until }
        return false
    }
}
