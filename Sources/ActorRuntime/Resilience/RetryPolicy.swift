import Foundation

/// Exponential backoff with jitter, as a value: how many attempts, and how long before each retry.
public struct RetryPolicy: Sendable, Hashable {
    /// Attempts in all, the first included (1 = no retry).
    public var maxAttempts: Int
    public var initialDelay: Duration
    public var maxDelay: Duration
    public var multiplier: Double
    /// Fraction of each delay that is randomised (0 = none, 0.2 = ±20 %), so retries from many
    /// places do not arrive in lockstep.
    public var jitter: Double

    public init(maxAttempts: Int = 3, initialDelay: Duration = .milliseconds(100), maxDelay: Duration = .seconds(10),
                multiplier: Double = 2, jitter: Double = 0.2) {
        precondition(maxAttempts >= 1, "maxAttempts must be at least 1")
        self.maxAttempts = maxAttempts
        self.initialDelay = initialDelay
        self.maxDelay = max(initialDelay, maxDelay)
        self.multiplier = max(1, multiplier)
        self.jitter = min(max(jitter, 0), 1)
    }

    /// No retries.
    public static let never = RetryPolicy(maxAttempts: 1, initialDelay: .zero, maxDelay: .zero, jitter: 0)

    /// Whether a failure of attempt `attempt` (1-based) may be retried.
    public func shouldRetry(afterAttempt attempt: Int) -> Bool { attempt < maxAttempts }

    /// The delay before the retry that follows attempt `attempt` (1-based), before jitter.
    public func baseDelay(afterAttempt attempt: Int) -> Duration {
        let factor = Foundation.pow(multiplier, Double(max(0, attempt - 1)))
        // Compared in seconds first: a late attempt's factor (2^64 and more) overflows Duration's arithmetic.
        guard factor.isFinite, initialDelay.inSeconds * factor < maxDelay.inSeconds else { return maxDelay }
        return factor == factor.rounded() && factor < 1e9 ? initialDelay * Int(factor) : initialDelay * factor
    }

    /// The delay with jitter; `unitRandom` in [0, 1) is injected for tests.
    public func delay(afterAttempt attempt: Int, unitRandom: Double = Double.random(in: 0..<1)) -> Duration {
        let base = baseDelay(afterAttempt: attempt)
        guard jitter > 0 else { return base }
        let scale = 1 + jitter * (2 * unitRandom - 1)
        return base * scale
    }
}
