import ActorRuntime
import ActorRuntimeTesting
import Synchronization
import Testing

/// Fails each message a set number of times with a given kind of error, then succeeds.
final class FlakyActor: ActorBehavior {
    enum Message: Sendable { case work(id: Int, failures: Int, kind: FailureDisposition) }
    struct Flake: Error {}
    let attempts: Attempts
    let done: ActorRef<Int>
    init(attempts: Attempts, done: ActorRef<Int>) { self.attempts = attempts; self.done = done }

    func receive(_ message: Message, context: ActorContext<Message>) async throws {
        guard case .work(let id, let failures, let kind) = message else { return }
        let n = attempts.bump(id)
        if n <= failures {
            switch kind {
            case .transient: throw TransientError(Flake())
            case .permanent: throw PermanentError(Flake())
            case .crash: throw Flake()
            }
        }
        await done.tell(id)
    }
}

final class Attempts: Sendable {
    private let counts = Mutex<[Int: Int]>([:])
    func bump(_ id: Int) -> Int { counts.withLock { $0[id, default: 0] += 1; return $0[id]! } }
    func of(_ id: Int) -> Int { counts.withLock { $0[id] ?? 0 } }
}

@Suite struct FailurePolicyTests {
    let fastRetry = FailurePolicy(retry: RetryPolicy(maxAttempts: 3, initialDelay: .milliseconds(5), maxDelay: .milliseconds(50)))

    /// A test kit with a FlakyActor (3 attempts, short backoff) reporting handled ids to a probe.
    func flaky() throws -> (ActorTestKit, TestProbe<Int>, Attempts, ActorRef<FlakyActor.Message>) {
        let kit = ActorTestKit()
        let done = try kit.probe(Int.self)
        let attempts = Attempts()
        let ref = try kit.spawn(Props(failurePolicy: fastRetry) { FlakyActor(attempts: attempts, done: done.ref) }, name: "flaky")
        return (kit, done, attempts, ref)
    }

    @Test func aTransientFailureIsRetriedThenSucceeds() async throws {
        let (kit, done, attempts, ref) = try flaky()
        await ref.tell(.work(id: 1, failures: 2, kind: .transient))
        #expect(try await done.expectMessage() == 1)
        #expect(attempts.of(1) == 3)
        #expect(kit.system.deadLetters.count == 0)
        await kit.shutdown()
    }

    @Test func aTransientFailureIsRetriedWithBackoffThenDeadLettered() async throws {
        let (kit, done, attempts, ref) = try flaky()
        await ref.tell(.work(id: 1, failures: 99, kind: .transient))
        await ref.tell(.work(id: 2, failures: 0, kind: .transient))
        let letter = try await kit.expectDeadLetter(to: ref.path)
        #expect(letter.attempts == 3)
        #expect(letter.reason.hasPrefix("retries exhausted"))
        #expect(attempts.of(1) == 3)
        let retries = kit.history.compactMap { e -> Int? in if case .retrying(ref.path, let a, _, _) = e { a } else { nil } }
        #expect(retries == [2, 3])
        #expect(try await done.expectMessage() == 2, "the next message is handled")
        #expect(!kit.history.contains { if case .restarted = $0 { true } else { false } }, "retries are not restarts")
        await kit.shutdown()
    }

    @Test func aPermanentFailureIsDeadLetteredAtOnce() async throws {
        let (kit, done, attempts, ref) = try flaky()
        await ref.tell(.work(id: 7, failures: 1, kind: .permanent))
        await ref.tell(.work(id: 8, failures: 0, kind: .permanent))
        let letter = try await kit.expectDeadLetter(to: ref.path)
        #expect(letter.attempts == 1)
        #expect(letter.reason.hasPrefix("permanent failure"))
        #expect(attempts.of(7) == 1)
        #expect(try await done.expectMessage() == 8)
        await kit.shutdown()
    }

    @Test func anUnclassifiedErrorIsACrashHandledBySupervision() async throws {
        let (kit, _, attempts, ref) = try flaky()
        await ref.tell(.work(id: 3, failures: 1, kind: .crash))
        let letter = try await kit.expectDeadLetter(to: ref.path)
        #expect(letter.reason.hasPrefix("actor failed"))
        try await kit.expectRestart(of: ref.path)
        #expect(attempts.of(3) == 1)
        await kit.shutdown()
    }

    @Test func retryDelaysGrowExponentiallyAreCappedAndJittered() {
        let p = RetryPolicy(maxAttempts: 6, initialDelay: .milliseconds(100), maxDelay: .milliseconds(500), multiplier: 2, jitter: 0.2)
        #expect((1...5).map { p.baseDelay(afterAttempt: $0) } ==
                [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(500), .milliseconds(500)])
        #expect(p.delay(afterAttempt: 1, unitRandom: 0) == .milliseconds(80))
        #expect(p.delay(afterAttempt: 1, unitRandom: 0.5) == .milliseconds(100))
        for _ in 0..<100 {
            let d = p.delay(afterAttempt: 2)
            #expect(d >= .milliseconds(160) && d <= .milliseconds(240))
        }
        #expect(p.shouldRetry(afterAttempt: 5))
        #expect(!p.shouldRetry(afterAttempt: 6))
        #expect(!RetryPolicy.never.shouldRetry(afterAttempt: 1))
    }

    /// A retry schedule that runs for hours (Notification's: 10 s doubling to 1 h for a day) reaches attempts
    /// whose factor overflows `Duration`'s arithmetic: the delay stays at the cap instead of trapping.
    @Test func aLateAttemptsDelayStaysAtTheCap() {
        let policy = RetryPolicy(maxAttempts: 1_000_000, initialDelay: .seconds(10), maxDelay: .seconds(3600), jitter: 0.2)
        for attempt in [30, 64, 65, 100, 1_000, 999_999] {
            #expect(policy.baseDelay(afterAttempt: attempt) == .seconds(3600))
            let jittered = policy.delay(afterAttempt: attempt)
            #expect(jittered >= .seconds(2880) && jittered <= .seconds(4320))
        }
        #expect(policy.baseDelay(afterAttempt: 3) == .seconds(40))
    }
}
