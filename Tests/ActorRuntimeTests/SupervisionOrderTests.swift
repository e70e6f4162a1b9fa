import ActorRuntime
import ActorRuntimeTesting
import Testing

/// A supervisor of hook-recording children, spawned in the order of `specs`.
final class HookSupervisor: ActorBehavior {
    struct Child: Sendable {
        let name: String
        var restart: RestartType = .permanent
        var significant = false
        var shutdownTimeout: Duration = .seconds(5)
        var failStart: FailOnce? = nil
    }

    enum Message: Sendable {
        case children(ReplyTo<[ActorRef<HookRecorder.Message>]>)
        case stopChild(Int)
    }

    let log: ActorRef<String>
    let specs: [Child]
    var refs: [ActorRef<HookRecorder.Message>] = []

    init(log: ActorRef<String>, _ specs: [Child]) {
        self.log = log
        self.specs = specs
    }

    func preStart(context: ActorContext<Message>) async throws {
        let log = self.log
        refs = try specs.map { spec in
            try context.spawn(Props(restart: spec.restart, shutdownTimeout: spec.shutdownTimeout, significant: spec.significant) {
                HookRecorder(log: log, label: spec.name, failStart: spec.failStart)
            },
                              name: spec.name)
        }
    }

    func postStop(context: ActorContext<Message>) async { await log.tell("sup.postStop") }

    func receive(_ message: Message, context: ActorContext<Message>) async throws {
        switch message {
        case .children(let reply): reply.send(refs)
        case .stopChild(let index): context.stop(refs[index])
        }
    }
}

/// Stops itself in preStart (OTP's `ignore`).
final class StopsInPreStart: ActorBehavior {
    func preStart(context: ActorContext<Int>) async throws { context.stop() }
    func receive(_ message: Int, context: ActorContext<Int>) async throws {}
}

/// OTP's supervision semantics: the order of one-for-all and rest-for-one restarts, restart types,
/// significant children, and escalation.
@Suite struct SupervisionOrderTests {
    /// The next `count` hooks the children logged, without their reasons ("b.preRestart(boom)" -> "b.preRestart").
    func hooks(_ log: TestProbe<String>, _ count: Int) async throws -> [String] {
        try await log.expectMessages(count).map { String($0.prefix { $0 != "(" }) }
    }

    func supervisor(_ kit: ActorTestKit, _ strategy: SupervisorStrategy, restart: RestartType = .permanent,
                    _ specs: [HookSupervisor.Child]) async throws
        -> (TestProbe<String>, ActorRef<HookSupervisor.Message>, [ActorRef<HookRecorder.Message>]) {
        let log = try kit.probe(String.self)
        let sup = try kit.spawn(Props(supervision: strategy, restart: restart) { HookSupervisor(log: log.ref, specs) }, name: "sup")
        // The first start is not ordered: each child starts in its own cell as soon as it is spawned.
        #expect(Set(try await hooks(log, specs.count)) == Set(specs.map { "\($0.name).preStart" }))
        let children = try await sup.ask(timeout: .seconds(5)) { .children($0) }
        return (log, sup, children)
    }

    @Test func oneForAllTakesTheSiblingsDownLastStartedFirstThenStartsThemInStartOrder() async throws {
        let kit = ActorTestKit()
        let (log, _, kids) = try await supervisor(kit, .oneForAll(), [.init(name: "a"), .init(name: "b"), .init(name: "c")])
        await kids[1].tell(.crash)
        #expect(try await hooks(log, 6) == ["c.preRestart", "b.preRestart", "a.preRestart", "a.preStart", "b.preStart", "c.preStart"])
        try await kit.expectRestarts(inOrder: kids.map(\.path))
        await kit.shutdown()
    }

    @Test func restForOneRestartsTheFailedChildAndLaterOnesInOrderAndLeavesEarlierOnes() async throws {
        let kit = ActorTestKit()
        let (log, _, kids) = try await supervisor(kit, .restForOne(), [.init(name: "a"), .init(name: "b"), .init(name: "c")])
        await kids[1].tell(.crash)
        #expect(try await hooks(log, 4) == ["c.preRestart", "b.preRestart", "b.preStart", "c.preStart"])
        try await kit.expectRestarts(inOrder: [kids[1].path, kids[2].path])
        try await log.expectNoMessage(for: .milliseconds(100))         // a kept running
        await kit.shutdown()
    }

    @Test func aTemporarySiblingIsStoppedAndNotRestarted() async throws {
        let kit = ActorTestKit()
        let (log, sup, kids) = try await supervisor(kit, .oneForAll(), [.init(name: "a"), .init(name: "t", restart: .temporary), .init(name: "c")])
        await kids[2].tell(.crash)
        #expect(try await hooks(log, 5) == ["c.preRestart", "t.postStop", "a.preRestart", "a.preStart", "c.preStart"])
        #expect(kids[1].trySend(.crash) == .closed)
        // The supervisor keeps running with the other two.
        #expect(try await sup.ask(timeout: .seconds(5)) { .children($0) }.count == 3)
        try await kit.expectRestarts(inOrder: [kids[0].path, kids[2].path])
        await kit.shutdown()
    }

    @Test func aFailureDuringTheRestartBeginsItAgainInOrder() async throws {
        let kit = ActorTestKit()
        let bFails = FailOnce()
        let (log, _, kids) = try await supervisor(kit, .oneForAll(maxRestarts: 5, within: .seconds(5)),
                                                  [.init(name: "a"), .init(name: "b", failStart: bFails), .init(name: "c")])
        bFails.arm()                                                // b's next start fails
        await kids[0].tell(.crash)
        // Round 1 ends at b's failed start: the plan takes down b and a again (c, still down, answers at
        // once) and starts all three in order.
        #expect(try await hooks(log, 10) == ["c.preRestart", "b.preRestart", "a.preRestart", "a.preStart", "b.preStartFailed",
                                             "b.preRestart", "a.preRestart", "a.preStart", "b.preStart", "c.preStart"])
        for kid in kids { await kid.tell(.spawnChild) }             // all three run
        #expect(try await log.expectMessages(3) == ["child.preStart", "child.preStart", "child.preStart"])
        await kit.shutdown()
    }

    @Test func aChildThatCannotBeTakenDownInTimeMakesTheSupervisorGiveUp() async throws {
        let kit = ActorTestKit()
        let (_, sup, kids) = try await supervisor(kit, .oneForAll(), [.init(name: "a"), .init(name: "b", shutdownTimeout: .milliseconds(200))])
        let gate = Gate()
        await kids[1].tell(.hold(gate))                             // b's handler does not return
        await kids[0].tell(.crash)
        // b is given up on; without it the plan cannot restart the children in order: the supervisor escalates.
        let event = try await kit.expectEvent("the supervisor to escalate") { if case .escalated(sup.path, _) = $0 { true } else { false } }
        #expect("\(event)".contains("was not taken down for its restart"))
        try await kit.expectRestart(of: sup.path)
        gate.open()
        await kit.shutdown()
    }

    @Test func aChildThatCrashesWhileItsParentStopsItRestartsNoSibling() async throws {
        let kit = ActorTestKit()
        let (log, sup, kids) = try await supervisor(kit, .oneForAll(), [.init(name: "a"), .init(name: "b")])
        let gate = Gate()
        await kids[1].tell(.crashAfter(gate))
        await sup.tell(.stopChild(1))
        _ = try await sup.ask(timeout: .seconds(5)) { .children($0) }   // the stop is sent
        gate.open()                                                 // b crashes, then sees its stop
        #expect(try await hooks(log, 1) == ["b.postStop"])
        try await kit.expectStopped(kids[1].path)
        try await log.expectNoMessage(for: .milliseconds(100))      // a was not restarted
        await kit.shutdown()
    }

    // MARK: restart types

    @Test func anActorThatStopsItselfAndThenCrashesIsRestarted() async throws {
        let kit = ActorTestKit()
        let log = try kit.probe(String.self)
        let ref = try kit.spawn(Props { HookRecorder(log: log.ref, label: "x") }, name: "x")
        #expect(try await log.expectMessage() == "x.preStart")
        await ref.tell(.stopThenCrash)                              // the crash decides: restarted
        try await kit.expectRestart(of: ref.path)
        #expect(try await hooks(log, 2) == ["x.preRestart", "x.preStart"])
        await kit.shutdown()
    }

    @Test func stoppingInPreStartStopsForGoodEvenAPermanentActor() async throws {
        let kit = ActorTestKit()
        let ref = try kit.spawn(Props { StopsInPreStart() }, name: "ignored")
        try await kit.expectStopped(ref.path)
        #expect(ref.trySend(0) == .closed)
        #expect(!kit.history.contains { if case .restarted(ref.path, _, _) = $0 { true } else { false } })
        await kit.shutdown()
    }

    @Test func aPermanentActorThatStopsItselfIsRestarted() async throws {
        let kit = ActorTestKit()
        let counter = try kit.spawn(Props { CounterActor() }, name: "counter")
        await counter.tell(.increment)
        await counter.tell(.stop)
        try await kit.expectRestart(of: counter.path)
        #expect(try await count(of: counter) == 0)                 // a fresh instance behind the same reference
        await kit.shutdown()
    }

    @Test func aTransientActorThatStopsItselfStopsForGoodButIsRestartedAfterACrash() async throws {
        let kit = ActorTestKit()
        let counter = try kit.spawn(Props(restart: .transient) { CounterActor() }, name: "counter")
        await counter.tell(.increment)
        await counter.tell(.crash)
        try await kit.expectRestart(of: counter.path)
        await counter.tell(.stop)
        try await kit.expectStopped(counter.path)
        #expect(counter.trySend(.increment) == .closed)
        await kit.shutdown()
    }

    @Test func aChildStoppedByItsParentIsNotRestartedEvenIfPermanent() async throws {
        let kit = ActorTestKit()
        let (log, sup, kids) = try await supervisor(kit, .oneForOne(), [.init(name: "a"), .init(name: "b")])
        await sup.tell(.stopChild(0))
        #expect(try await hooks(log, 1) == ["a.postStop"])
        try await kit.expectStopped(kids[0].path)
        #expect(kids[0].trySend(.crash) == .closed)
        try await log.expectNoMessage(for: .milliseconds(100))
        await kit.shutdown()
    }

    // MARK: significant children

    @Test func anySignificantChildStoppingOnItsOwnStopsTheSupervisor() async throws {
        let kit = ActorTestKit()
        let (log, sup, kids) = try await supervisor(kit, .oneForOne(autoShutdown: .anySignificant), restart: .transient,
                                                    [.init(name: "a"), .init(name: "s", restart: .transient, significant: true)])
        await kids[1].tell(.stop)
        #expect(try await hooks(log, 3) == ["s.postStop", "a.postStop", "sup.postStop"])
        try await kit.expectStops(inOrder: [kids[1].path, kids[0].path, sup.path])
        await kit.shutdown()
    }

    @Test func allSignificantWaitsForTheLastSignificantChild() async throws {
        let kit = ActorTestKit()
        let (log, sup, kids) = try await supervisor(kit, .oneForOne(autoShutdown: .allSignificant), restart: .transient,
                                                    [.init(name: "s1", restart: .transient, significant: true),
                                                     .init(name: "s2", restart: .temporary, significant: true)])
        await kids[0].tell(.stop)
        #expect(try await hooks(log, 1) == ["s1.postStop"])
        #expect(try await sup.ask(timeout: .seconds(5)) { .children($0) }.count == 2)   // still running
        await kids[1].tell(.crash)                                  // temporary: its crash ends it, on its own
        #expect(try await hooks(log, 2) == ["s2.postStop", "sup.postStop"])
        try await kit.expectStopped(sup.path)
        await kit.shutdown()
    }

    @Test func aSignificantChildStoppedByItsParentDoesNotStopTheSupervisor() async throws {
        let kit = ActorTestKit()
        let (log, sup, _) = try await supervisor(kit, .oneForOne(autoShutdown: .anySignificant), restart: .transient,
                                                 [.init(name: "s", restart: .transient, significant: true)])
        await sup.tell(.stopChild(0))
        #expect(try await hooks(log, 1) == ["s.postStop"])
        #expect(try await sup.ask(timeout: .seconds(5)) { .children($0) }.count == 1)   // still running
        await kit.shutdown()
    }

    @Test func aSignificantPermanentActorIsRefused() async throws {
        let kit = ActorTestKit()
        let error = #expect(throws: ActorSystemError.self) { try kit.system.spawn(Props(significant: true) { CounterActor() }, name: "x") }
        #expect(error?.code == .permanentSignificant)
        #expect(try kit.system.spawn(Props(restart: .transient, significant: true) { CounterActor() }, name: "x").path.name == "x")
        await kit.shutdown()
    }

    // MARK: escalation

    @Test func aSupervisorThatEscalatesStopsItsChildrenFirst() async throws {
        let kit = ActorTestKit()
        let (_, sup, kids) = try await supervisor(kit, .oneForOne(maxRestarts: 0), [.init(name: "a"), .init(name: "b")])
        await kids[0].tell(.crash)
        try await kit.expectStops(inOrder: [kids[1].path, kids[0].path])
        // Only then does the supervisor fail (and its own supervisor restart it).
        try await kit.expectEvent("the supervisor's failure") { if case .failed(sup.path, _) = $0 { true } else { false } }
        try await kit.expectRestart(of: sup.path)
        await kit.shutdown()
    }
}
