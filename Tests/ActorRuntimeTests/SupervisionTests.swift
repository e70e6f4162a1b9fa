import ActorRuntime
import ActorRuntimeTesting
import Synchronization
import Testing

/// Records its lifecycle hooks, in order, to a probe.
final class HookRecorder: ActorBehavior {
    enum Message: Sendable { case crash, stop, spawnChild, hold(Gate), crashAfter(Gate), stopThenCrash }
    let log: ActorRef<String>
    let label: String
    /// When armed, the next preStart fails (once).
    let failStart: FailOnce?
    init(log: ActorRef<String>, label: String, failStart: FailOnce? = nil) { self.log = log; self.label = label; self.failStart = failStart }

    func preStart(context: ActorContext<Message>) async throws {
        if let failStart, failStart.take() {
            await log.tell("\(label).preStartFailed")
            throw CounterActor.Boom()
        }
        await log.tell("\(label).preStart")
    }
    func postStop(context: ActorContext<Message>) async { await log.tell("\(label).postStop") }
    func preRestart(reason: any Error, context: ActorContext<Message>) async { await log.tell("\(label).preRestart(\(reason))") }
    func receive(_ message: Message, context: ActorContext<Message>) async throws {
        switch message {
        case .crash: throw CounterActor.Boom()
        case .stop: context.stop()
        case .hold(let gate): await gate.wait()
        case .crashAfter(let gate):
            await gate.wait()
            throw CounterActor.Boom()
        case .stopThenCrash:
            context.stop()
            throw CounterActor.Boom()
        case .spawnChild:
            let log = self.log
            _ = try context.spawn(Props { HookRecorder(log: log, label: "child") }, name: "child")
        }
    }
}

/// A switch that is on until taken once.
final class FailOnce: Sendable {
    private let armed = Mutex(false)
    func arm() { armed.withLock { $0 = true } }
    func take() -> Bool { armed.withLock { value in defer { value = false }; return value } }
}

@Suite struct SupervisionTests {
    /// Starts a supervisor with children a, b, c, bumps every counter, crashes `crash`, and returns
    /// each child's count afterwards (0 = fresh instance, 1 = kept its state).
    func countsAfterCrash(_ strategy: SupervisorStrategy, crash: Int, expectRestarted: [Int]) async throws -> [Int] {
        let kit = ActorTestKit()
        let sup = try kit.spawn(Props(supervision: strategy) { SupervisorActor(names: ["a", "b", "c"]) }, name: "sup")
        let children = try await sup.ask(timeout: .seconds(5)) { .children($0) }
        for c in children { await c.tell(.increment) }
        for c in children { #expect(try await count(of: c) == 1) }
        await children[crash].tell(.crash)
        try await kit.expectRestarts(inOrder: expectRestarted.map { children[$0].path })
        var counts: [Int] = []
        for c in children { counts.append(try await count(of: c)) }
        let restarted = Set(kit.history.compactMap { e -> ActorPath? in if case .restarted(let p, _, _) = e { p } else { nil } })
        #expect(restarted == Set(expectRestarted.map { children[$0].path }))
        await kit.shutdown()
        return counts
    }

    @Test func oneForOneRestartsOnlyTheFailedChild() async throws {
        #expect(try await countsAfterCrash(.oneForOne(), crash: 1, expectRestarted: [1]) == [1, 0, 1])
    }

    @Test func oneForAllRestartsEveryChild() async throws {
        #expect(try await countsAfterCrash(.oneForAll(), crash: 1, expectRestarted: [0, 1, 2]) == [0, 0, 0])
    }

    @Test func restForOneRestartsTheFailedChildAndThoseStartedAfterIt() async throws {
        #expect(try await countsAfterCrash(.restForOne(), crash: 1, expectRestarted: [1, 2]) == [1, 0, 0])
    }

    @Test func aRestartedActorHasFreshStateAndKeepsItsReference() async throws {
        let kit = ActorTestKit()
        let counter = try kit.spawn(Props { CounterActor() }, name: "counter")
        for _ in 0..<3 { await counter.tell(.increment) }
        #expect(try await count(of: counter) == 3)
        await counter.tell(.crash)
        try await kit.expectRestart(of: counter.path)
        #expect(try await count(of: counter) == 0)
        await counter.tell(.increment)
        #expect(try await count(of: counter) == 1)
        await kit.shutdown()
    }

    @Test func exceedingTheRestartIntensityEscalatesToTheParent() async throws {
        let kit = ActorTestKit()
        let strategy = SupervisorStrategy.oneForOne(maxRestarts: 2, within: .seconds(60))
        let sup = try kit.spawn(Props(supervision: strategy) { SupervisorActor(names: ["worker"]) }, name: "sup")
        var worker = try await sup.ask(timeout: .seconds(5)) { .children($0) }[0]
        for _ in 0..<2 {
            await worker.tell(.crash)
            try await kit.expectRestart(of: worker.path)
        }
        await worker.tell(.crash)                                    // third crash in the window
        try await kit.expectEvent("the supervisor to escalate") {
            if case .escalated(sup.path, _) = $0 { true } else { false }
        }
        try await kit.expectRestart(of: sup.path)                    // the guardian restarted the supervisor
        worker = try await sup.ask(timeout: .seconds(5)) { .children($0) }[0]
        await worker.tell(.increment)
        #expect(try await count(of: worker) == 1, "the supervisor started a fresh worker")
        await kit.shutdown()
    }

    @Test func theRootGivingUpTerminatesTheSystemWithAFailure() async throws {
        let kit = ActorTestKit(guardianStrategy: .oneForOne(maxRestarts: 1, within: .seconds(60)))
        let counter = try kit.spawn(Props { CounterActor() }, name: "counter")
        await counter.tell(.crash)
        try await kit.expectRestart(of: counter.path)
        await counter.tell(.crash)
        let termination = await kit.system.terminated()
        guard case .failed(let reason) = termination else {
            Issue.record("expected a failed termination, got \(termination)")
            return
        }
        #expect(reason.contains("restart intensity exceeded"))
        #expect(reason.contains("/user/counter"))
    }

    @Test func restartBackoffIsApplied() async throws {
        let kit = ActorTestKit()
        // resetAfter well clear of a loaded machine's scheduling gaps: the second crash must count as consecutive
        let backoff = RestartBackoff.exponential(initial: .milliseconds(150), maximum: .seconds(1), resetAfter: .seconds(120), jitter: 0)
        let counter = try kit.spawn(Props(restartBackoff: backoff) { CounterActor() }, name: "slow")
        let crashed = ContinuousClock.now
        await counter.tell(.crash)
        let event = try await kit.expectRestart(of: counter.path)
        #expect(ContinuousClock.now - crashed >= .milliseconds(150))
        guard case .restarted(_, _, let delay) = event else { return }
        #expect(delay == .milliseconds(150))
        await counter.tell(.crash)
        guard case .restarted(_, _, let second) = try await kit.expectRestart(of: counter.path) else { return }
        #expect(second == .milliseconds(300), "consecutive crashes double the delay")
        await kit.shutdown()
    }

    @Test func restartBackoffGrowsAndIsCapped() {
        let b = RestartBackoff.exponential(initial: .milliseconds(100), maximum: .milliseconds(350))
        #expect((1...4).map(b.baseDelay(consecutive:)) == [.milliseconds(100), .milliseconds(200), .milliseconds(350), .milliseconds(350)])
        #expect(RestartBackoff.none.delay(consecutive: 3) == .zero)
    }

    @Test func restartBackoffHasJitterAroundTheBaseDelay() {
        let b = RestartBackoff.exponential(initial: .milliseconds(100), maximum: .seconds(1), jitter: 0.2)
        #expect(b.delay(consecutive: 2, unitRandom: 0) == .milliseconds(160))
        #expect(b.delay(consecutive: 2, unitRandom: 0.5) == .milliseconds(200))
        #expect(b.delay(consecutive: 2, unitRandom: 0.999_999) > .milliseconds(239))
        #expect(Set((0..<20).map { _ in b.delay(consecutive: 1) }).count > 1, "not every restart waits the same")
    }

    @Test func hooksRunInOrderAndChildrenStopBeforeTheirParent() async throws {
        let kit = ActorTestKit()
        let log = try kit.probe(String.self)
        let ref = try kit.spawn(Props(restart: .transient) { HookRecorder(log: log.ref, label: "parent") }, name: "hooks")
        #expect(try await log.expectMessage() == "parent.preStart")
        await ref.tell(.spawnChild)
        #expect(try await log.expectMessage() == "child.preStart")
        await ref.tell(.crash)
        // restart: children stop first, then preRestart on the old instance, then preStart on the new one
        #expect(try await log.expectMessages(3) == ["child.postStop", "parent.preRestart(boom)", "parent.preStart"])
        await ref.tell(.spawnChild)
        #expect(try await log.expectMessage() == "child.preStart")
        await ref.tell(.stop)
        #expect(try await log.expectMessages(2) == ["child.postStop", "parent.postStop"])
        try await log.expectNoMessage(for: .milliseconds(100))
        await kit.shutdown()
    }

    @Test func aTemporaryChildIsNotRestarted() async throws {
        let kit = ActorTestKit()
        let ref = try kit.spawn(Props(restart: .temporary) { CounterActor() }, name: "temp")
        await ref.tell(.crash)
        try await kit.expectStopped(ref.path)
        #expect(ref.trySend(.increment) == .closed)
        await kit.shutdown()
    }

    @Test func restartWindowCountsWithinThePeriodOnly() {
        var window = RestartWindow(RestartIntensity(maxRestarts: 2, within: .seconds(5)))
        let t0 = ContinuousClock.now
        let decisions = [0.0, 1, 2, 6.5].map { window.allowRestart(at: t0 + .seconds($0)) }
        // a third restart within 5 s exceeds the intensity; at 6.5 s the first two have left the window
        #expect(decisions == [true, true, false, true])
        var none = RestartWindow(RestartIntensity(maxRestarts: 0, within: .seconds(5)))
        let refused = none.allowRestart(at: t0)
        #expect(!refused)
    }

    @Test func strategiesPickTheRightChildren() {
        #expect(SupervisorStrategy.oneForOne().childrenToRestart(failed: 1, childCount: 4) == 1..<2)
        #expect(SupervisorStrategy.oneForAll().childrenToRestart(failed: 1, childCount: 4) == 0..<4)
        #expect(SupervisorStrategy.restForOne().childrenToRestart(failed: 1, childCount: 4) == 1..<4)
    }
}

/// Tells its probe when a watched actor stops.
final class Watcher: ActorBehavior {
    enum Message: Sendable { case watch(ActorRef<CounterActor.Message>) }
    let out: ActorRef<ActorPath>
    init(out: ActorRef<ActorPath>) { self.out = out }
    func receive(_ message: Message, context: ActorContext<Message>) async throws {
        if case .watch(let ref) = message { context.watch(ref) }
    }
    func receiveSignal(_ signal: Signal, context: ActorContext<Message>) async throws {
        if case .terminated(let path) = signal { await out.tell(path) }
    }
}

@Suite struct DeathWatchTests {
    @Test func aWatcherIsToldWhenTheWatchedActorStops() async throws {
        let kit = ActorTestKit()
        let probe = try kit.probe(ActorPath.self)
        let watcher = try kit.spawn(Props { Watcher(out: probe.ref) }, name: "watcher")
        let target = try kit.spawn(Props(restart: .transient) { CounterActor() }, name: "target")
        await watcher.tell(.watch(target))
        _ = try await count(of: target)                 // the watch request is queued before this answer
        try await probe.expectNoMessage(for: .milliseconds(50))
        await target.tell(.stop)
        #expect(try await probe.expectMessage() == target.path)
        await kit.shutdown()
    }

    @Test func watchingAnAlreadyStoppedActorSignalsAtOnce() async throws {
        let kit = ActorTestKit()
        let probe = try kit.probe(ActorPath.self)
        let target = try kit.spawn(Props(restart: .transient) { CounterActor() }, name: "target")
        await target.tell(.stop)
        try await kit.expectStopped(target.path)
        let watcher = try kit.spawn(Props { Watcher(out: probe.ref) }, name: "watcher")
        await watcher.tell(.watch(target))
        #expect(try await probe.expectMessage() == target.path)
        await kit.shutdown()
    }
}
