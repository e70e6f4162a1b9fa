import Synchronization

/// A shared, thread-safe ``TokenBucket``: `acquire()` waits its turn, `honourRetryAfter` obeys a 429.
public final class RateLimiter: Sendable {
    private let bucket: Mutex<TokenBucket>

    public init(capacity: Int, ratePerSecond: Double) {
        bucket = Mutex(TokenBucket(capacity: capacity, ratePerSecond: ratePerSecond, now: .now))
    }

    /// Takes a token now if one is free; otherwise says how long to wait.
    public func tryAcquire() -> TokenBucket.Decision {
        let now = ContinuousClock.now
        return bucket.withLock { $0.acquire(at: now) }
    }

    /// Waits until a token is granted (cancellable).
    public func acquire() async throws {
        while true {
            switch tryAcquire() {
            case .granted: return
            case .wait(let d): try await Task.sleep(for: d)
            }
        }
    }

    /// Blocks every caller for `delay` (e.g. from a 429 "wait for X seconds").
    public func honourRetryAfter(_ delay: Duration) {
        let now = ContinuousClock.now
        bucket.withLock { $0.honourRetryAfter(delay, at: now) }
    }
}
