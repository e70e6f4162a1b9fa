import ActorRuntime
import Testing

@Suite struct CircuitBreakerTests {
    let config = CircuitBreakerState.Configuration(failureThreshold: 3, coolDown: .seconds(30), successThreshold: 1)

    @Test func opensAfterTheThresholdAndRejectsUntilTheCoolDown() {
        var b = CircuitBreakerState(config)
        let t0 = ContinuousClock.now
        for i in 0..<3 {
            #expect(b.decide(at: t0) == .allow)
            b.recordFailure(at: t0 + .seconds(i))
        }
        #expect(b.phase == .open(until: t0 + .seconds(32)))
        #expect(b.decide(at: t0 + .seconds(10)) == .reject(retryAt: t0 + .seconds(32)))
        #expect(b.isOpen(at: t0 + .seconds(31)))
    }

    @Test func halfOpenLetsOneTrialThroughAndClosesOnSuccess() {
        var b = CircuitBreakerState(config)
        let t0 = ContinuousClock.now
        for _ in 0..<3 { b.recordFailure(at: t0) }
        let later = t0 + .seconds(31)
        #expect(b.decide(at: later) == .allow)
        #expect(b.phase == .halfOpen(successes: 0, trialSince: later))
        if case .reject = b.decide(at: later) {} else { Issue.record("a second call during the trial must be rejected") }
        b.recordSuccess(at: later)
        #expect(b.phase == .closed(consecutiveFailures: 0))
    }

    @Test func aTrialThatNeverReportsCountsAsFailedAfterTheTrialTimeout() {
        var b = CircuitBreakerState(.init(failureThreshold: 3, coolDown: .seconds(30), trialTimeout: .seconds(5)))
        let t0 = ContinuousClock.now
        for _ in 0..<3 { b.recordFailure(at: t0) }
        let trial = t0 + .seconds(31)
        #expect(b.decide(at: trial) == .allow)                          // the trial hangs and never reports
        #expect(b.decide(at: trial + .seconds(4)) == .reject(retryAt: trial + .seconds(5)))
        #expect(b.decide(at: trial + .seconds(5)) == .reject(retryAt: trial + .seconds(35)))
        #expect(b.phase == .open(until: trial + .seconds(35)))
        #expect(b.decide(at: trial + .seconds(35)) == .allow, "a new trial after the cool-down")
        b.recordSuccess(at: trial + .seconds(36))
        #expect(b.phase == .closed(consecutiveFailures: 0))
    }

    @Test func aFailedTrialReopens() {
        var b = CircuitBreakerState(config)
        let t0 = ContinuousClock.now
        for _ in 0..<3 { b.recordFailure(at: t0) }
        let later = t0 + .seconds(31)
        _ = b.decide(at: later)
        b.recordFailure(at: later)
        #expect(b.phase == .open(until: later + .seconds(30)))
    }

    @Test func aSuccessResetsTheFailureCount() {
        var b = CircuitBreakerState(config)
        let t0 = ContinuousClock.now
        b.recordFailure(at: t0)
        b.recordFailure(at: t0)
        b.recordSuccess(at: t0)
        b.recordFailure(at: t0)
        #expect(b.phase == .closed(consecutiveFailures: 1))
    }

    @Test func theSharedBreakerRejectsWithATransientError() async throws {
        struct Down: Error {}
        let breaker = CircuitBreaker(name: "vendor", configuration: .init(failureThreshold: 2, coolDown: .seconds(60)))
        for _ in 0..<2 { _ = try? await breaker.run { () async throws -> Int in throw Down() } }
        #expect(breaker.isOpen)
        await #expect(throws: CircuitBreaker.OpenError.self) { try await breaker.run { 1 } }
        do { _ = try await breaker.run { 1 } } catch let e as CircuitBreaker.OpenError {
            #expect(e.disposition == .transient)
        }
    }
}

@Suite struct TokenBucketTests {
    @Test func grantsUpToCapacityThenRefillsAtTheRate() {
        let t0 = ContinuousClock.now
        var bucket = TokenBucket(capacity: 2, ratePerSecond: 2, now: t0)
        #expect(bucket.acquire(at: t0) == .granted)
        #expect(bucket.acquire(at: t0) == .granted)
        #expect(bucket.acquire(at: t0) == .wait(.milliseconds(500)))
        #expect(bucket.acquire(at: t0 + .milliseconds(500)) == .granted)
        #expect(bucket.acquire(at: t0 + .seconds(10)) == .granted)
        #expect(bucket.acquire(at: t0 + .seconds(10)) == .granted)
        #expect(bucket.acquire(at: t0 + .seconds(10)) != .granted, "refill never exceeds capacity")
    }

    @Test func honoursARetryAfterInstruction() {
        let t0 = ContinuousClock.now
        var bucket = TokenBucket(capacity: 5, ratePerSecond: 100, now: t0)
        bucket.honourRetryAfter(.seconds(30), at: t0)
        #expect(bucket.acquire(at: t0 + .seconds(10)) == .wait(.seconds(20)))
        bucket.honourRetryAfter(.seconds(5), at: t0 + .seconds(10))    // a shorter instruction does not shorten it
        #expect(bucket.acquire(at: t0 + .seconds(20)) == .wait(.seconds(10)))
        #expect(bucket.acquire(at: t0 + .seconds(30)) == .granted)
    }

    @Test func theSharedLimiterWaitsItsTurn() async throws {
        let limiter = RateLimiter(capacity: 1, ratePerSecond: 50)
        try await limiter.acquire()
        let start = ContinuousClock.now
        try await limiter.acquire()
        #expect(ContinuousClock.now - start >= .milliseconds(15))
    }
}
