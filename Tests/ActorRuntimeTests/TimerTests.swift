import ActorRuntime
import ActorRuntimeTesting
import Synchronization
import Testing

/// Starts timers on request and forwards their ticks.
final class TimerActor: ActorBehavior {
    enum Message: Sendable { case single(String, Duration), periodic(String, Duration), cancel(String), tick(String), crash, stop }
    let out: ActorRef<String>
    init(out: ActorRef<String>) { self.out = out }
    func receive(_ message: Message, context: ActorContext<Message>) async throws {
        switch message {
        case .single(let key, let d): context.timers.startSingle(key: key, message: .tick(key), delay: d)
        case .periodic(let key, let d): context.timers.startPeriodic(key: key, message: .tick(key), interval: d)
        case .cancel(let key):
            context.timers.cancel(key)
            await out.tell("cancelled \(key)")
        case .tick(let key): await out.tell(key)
        case .crash: throw CounterActor.Boom()
        case .stop: context.stop()
        }
    }
}

/// Ticks every millisecond, each tick keeping its handler busy for 3 ms; records what it handled.
final class BusyTicker: ActorBehavior {
    /// Holds the actor in its handler until the test opens it, so that messages told meanwhile are all queued.
    final class Gate: Sendable {
        let open = Atomic<Bool>(false)
    }
    enum Message: Sendable { case tick, work, hold(Gate), report(ReplyTo<String>) }
    var seen = ""
    func preStart(context: ActorContext<Message>) async throws {
        context.timers.startPeriodic(key: "tick", message: .tick, interval: .milliseconds(1))
    }
    func receive(_ message: Message, context: ActorContext<Message>) async throws {
        switch message {
        case .tick:
            seen += "t"
            let end = ContinuousClock.now + .milliseconds(3)
            while ContinuousClock.now < end {}
        case .work: seen += "w"
        case .hold(let gate): while !gate.open.load(ordering: .acquiring) { await Task.yield() }
        case .report(let reply): reply.send(seen)
        }
    }
}

@Suite struct TimerTests {
    /// A test kit with a TimerActor forwarding its ticks to a probe.
    func timerActor() throws -> (ActorTestKit, TestProbe<String>, ActorRef<TimerActor.Message>) {
        let kit = ActorTestKit()
        let probe = try kit.probe(String.self)
        return (kit, probe, try kit.spawn(Props(restart: .transient) { TimerActor(out: probe.ref) }, name: "timers"))
    }

    @Test func aSingleTimerFiresOnce() async throws {
        let (kit, probe, ref) = try timerActor()
        await ref.tell(.single("once", .milliseconds(20)))
        #expect(try await probe.expectMessage() == "once")
        try await probe.expectNoMessage(for: .milliseconds(100))
        await kit.shutdown()
    }

    @Test func aPeriodicTimerRepeatsUntilCancelled() async throws {
        let (kit, probe, ref) = try timerActor()
        await ref.tell(.periodic("tick", .milliseconds(10)))
        #expect(try await probe.expectMessages(3) == ["tick", "tick", "tick"])
        await ref.tell(.cancel("tick"))
        await ref.tell(.single("marker", .milliseconds(1)))
        // Ticks forwarded before the cancel was handled may still arrive; after it, none: ticks already
        // queued as system messages are dropped by generation, so the marker comes next.
        var next = try await probe.expectMessage()
        while next == "tick" { next = try await probe.expectMessage() }
        #expect(next == "cancelled tick")
        #expect(try await probe.expectMessage() == "marker")
        try await probe.expectNoMessage(for: .milliseconds(60))
        await kit.shutdown()
    }

    @Test func timersAreCancelledOnRestart() async throws {
        let (kit, probe, ref) = try timerActor()
        await ref.tell(.single("late", .milliseconds(80)))
        await ref.tell(.periodic("every", .milliseconds(30)))
        await ref.tell(.crash)
        try await kit.expectRestart(of: ref.path)
        try await probe.expectNoMessage(for: .milliseconds(200))
        await ref.tell(.single("fresh", .milliseconds(10)))        // the new instance's timers work
        #expect(try await probe.expectMessage() == "fresh")
        await kit.shutdown()
    }

    /// A timer firing faster than its handler runs takes turns with user messages (one tick pending per timer,
    /// each delivery one of the slice's budget), instead of being handled first every time.
    @Test func aFastTimerTakesTurnsWithUserMessages() async throws {
        let kit = ActorTestKit()
        let ticker = try kit.spawn(Props { BusyTicker() }, name: "ticker")
        // Ticking: each answer comes after at least one more tick.
        while try await ticker.ask(timeout: .seconds(10), { .report($0) }).count < 5 {}
        // All 20 are queued before any is handled: told one by one from a task that a loaded machine may pause
        // longer than a tick, they could otherwise leave the mailbox empty of work between two ticks.
        let gate = BusyTicker.Gate()
        await ticker.tell(.hold(gate))
        for _ in 0..<20 { await ticker.tell(.work) }
        gate.open.store(true, ordering: .releasing)
        let seen = try await ticker.ask(timeout: .seconds(10)) { .report($0) }
        let between = seen.drop { $0 != "w" }.reversed().drop { $0 != "w" }
        #expect(between.filter { $0 == "w" }.count == 20)
        #expect(!between.contains("tt"), "two ticks in a row between user messages: \(seen)")
        await kit.shutdown()
    }

    @Test func timersAreCancelledWhenTheActorStops() async throws {
        let (kit, probe, ref) = try timerActor()
        await ref.tell(.single("late", .milliseconds(80)))
        await ref.tell(.stop)
        try await kit.expectStopped(ref.path)
        try await probe.expectNoMessage(for: .milliseconds(200))   // the probe is still running
        await kit.shutdown()
    }
}
