/// A token-bucket rate limit as a pure value: `capacity` tokens, refilled at `ratePerSecond`, plus an
/// outside "retry after" instruction (an HTTP 429 "wait for X seconds") that blocks until it has passed.
public struct TokenBucket: Sendable {
    public enum Decision: Sendable, Hashable {
        case granted
        /// Not now: wait this long, then ask again.
        case wait(Duration)
    }

    public let capacity: Double
    public let ratePerSecond: Double
    private var tokens: Double
    private var updated: ContinuousClock.Instant
    private var blockedUntil: ContinuousClock.Instant?

    /// A full bucket at `now`.
    public init(capacity: Int, ratePerSecond: Double, now: ContinuousClock.Instant) {
        precondition(capacity >= 1 && ratePerSecond > 0, "a token bucket needs capacity >= 1 and a positive rate")
        self.capacity = Double(capacity)
        self.ratePerSecond = ratePerSecond
        self.tokens = Double(capacity)
        self.updated = now
    }

    /// Takes one token if there is one and no retry-after is in force.
    public mutating func acquire(at now: ContinuousClock.Instant) -> Decision {
        if let until = blockedUntil {
            if now < until { return .wait(until - now) }
            blockedUntil = nil
        }
        refill(now)
        if tokens >= 1 {
            tokens -= 1
            return .granted
        }
        return .wait(.seconds((1 - tokens) / ratePerSecond))
    }

    /// Puts back a token taken for something that turned out not to count (at most up to the capacity).
    public mutating func refund(at now: ContinuousClock.Instant) {
        refill(now)
        tokens = min(capacity, tokens + 1)
    }

    /// True when the bucket has refilled to its capacity by `now` (its client has been quiet long enough to
    /// be forgotten: a new bucket would be the same).
    public func isFull(at now: ContinuousClock.Instant) -> Bool {
        if let until = blockedUntil, now < until { return false }
        return tokens + max(0, (now - updated).inSeconds) * ratePerSecond >= capacity
    }

    /// The outside system said "retry after `delay`": nothing is granted before then, and the bucket is emptied.
    public mutating func honourRetryAfter(_ delay: Duration, at now: ContinuousClock.Instant) {
        let until = now + delay
        if blockedUntil.map({ until > $0 }) ?? true { blockedUntil = until }
        refill(now)
        tokens = 0
    }

    private mutating func refill(_ now: ContinuousClock.Instant) {
        guard now > updated else { return }
        tokens = min(capacity, tokens + (now - updated).inSeconds * ratePerSecond)
        updated = now
    }
}
