import ActorRuntime
import ActorRuntimeTesting
import Synchronization
import Testing

/// Holds its handler on the gate each message brings, after saying it entered.
final class HoldingActor: ActorBehavior {
    let entered: Recorder.Counter
    init(entered: Recorder.Counter) { self.entered = entered }
    func receive(_ gate: Gate, context: ActorContext<Gate>) async throws {
        entered.increment()
        await gate.wait()
    }
}

/// Starts a task that, once the message's gate opens, tells the sink; the task inherits whatever task-local
/// state the handler's worker had.
final class SpawningActor: ActorBehavior {
    let sink: ActorRef<Int>
    let spawned: Recorder.Counter
    init(sink: ActorRef<Int>, spawned: Recorder.Counter) { self.sink = sink; self.spawned = spawned }
    func receive(_ gate: Gate, context: ActorContext<Gate>) async throws {
        let sink = self.sink
        Task {
            await gate.wait()
            await sink.tell(1)
        }
        spawned.increment()
    }
}

/// Handles each hop by sometimes holding its worker (so that the dispatcher adds workers, which later
/// retire) and passing the token on from a task of its own.
final class RelayActor: ActorBehavior {
    let next: @Sendable () -> ActorRef<Int>?
    let arrived: Recorder.Counter
    init(arrived: Recorder.Counter, next: @escaping @Sendable () -> ActorRef<Int>?) { self.arrived = arrived; self.next = next }
    func receive(_ hops: Int, context: ActorContext<Int>) async throws {
        if hops % 7 == 0 { try await Task.sleep(for: .milliseconds(2)) }     // holds the worker: a worker is added
        guard hops > 0, let next = next() else { arrived.increment(); return }
        if hops % 2 == 0 {
            Task { await next.tell(hops - 1) }
        } else {
            await next.tell(hops - 1)
        }
    }
}

/// The dispatcher's memory safety: nothing the runtime hands a task may outlive what it points to.
/// These run under ThreadSanitizer and AddressSanitizer in `.ci/run` (scripts/sanitize.sh).
@Suite struct DispatcherSafetyTests {
    /// A task started in a handler inherits the handler's task-locals; the worker that ran the handler
    /// retires when the dispatcher no longer needs it. The task's later `tell` must still be delivered.
    @Test func aTaskStartedInAHandlerDeliversAfterItsWorkerRetired() async throws {
        let dispatcher = Dispatcher(workers: 1)
        let system = ActorSystem(name: "retire", configuration: .init(dispatcher: dispatcher))
        let delivered = Recorder.Counter(), entered = Recorder.Counter(), spawned = Recorder.Counter()
        let sink = try system.spawn(Props { Recorder(seen: delivered) }, name: "sink")
        let holder = try system.spawn(Props { HoldingActor(entered: entered) }, name: "holder")
        let spawner = try system.spawn(Props { SpawningActor(sink: sink, spawned: spawned) }, name: "spawner")
        for round in 1...20 {
            let hold = Gate(), release = Gate()
            // The only base worker waits inside the holder's handler ...
            await holder.tell(hold)
            try await eventually(within: .seconds(10), "the holder to enter (round \(round))") { entered.value == round }
            // ... so the spawner runs on a worker the dispatcher adds, which retires once it has nothing to do.
            await spawner.tell(release)
            try await eventually(within: .seconds(10), "the spawner to start its task (round \(round))") { spawned.value == round }
            hold.open()
            try await eventually(within: .seconds(10), "the added worker to retire (round \(round))") { dispatcher.workerCount == 1 }
            release.open()
            try await eventually(within: .seconds(10), "the task's message to arrive (round \(round))") { delivered.value == round }
        }
        await system.shutdown()
    }

    /// Many tokens pass through a ring of actors, half the hops from tasks started in handlers, while
    /// held workers make the dispatcher add workers that then retire: every token arrives.
    @Test func tokensPassedFromHandlerTasksWhileWorkersComeAndGoAllArrive() async throws {
        let dispatcher = Dispatcher(workers: 2)
        let system = ActorSystem(name: "churn", configuration: .init(dispatcher: dispatcher))
        let arrived = Recorder.Counter()
        let ring = RingRefs()
        let actors = try (0..<8).map { i in
            try system.spawn(Props { RelayActor(arrived: arrived) { ring.ref(after: i) } }, name: "relay-\(i)")
        }
        ring.set(actors)
        let tokens = 200
        for t in 0..<tokens { await actors[t % actors.count].tell(40) }
        try await eventually(within: .seconds(60), "all \(tokens) tokens to arrive") { arrived.value == tokens }
        await system.shutdown()
    }
}

/// The ring's references, set once every actor is spawned.
final class RingRefs: Sendable {
    private let refs = Mutex<[ActorRef<Int>]>([])
    func set(_ r: [ActorRef<Int>]) { refs.withLock { $0 = r } }
    func ref(after i: Int) -> ActorRef<Int>? { refs.withLock { $0.isEmpty ? nil : $0[(i + 1) % $0.count] } }
}

/// Passes the ball to its partner for as long as the rally runs, counting the hits.
final class Bouncer: ActorBehavior {
    let rally: Rally
    let partner: @Sendable () -> ActorRef<Int>?
    init(rally: Rally, partner: @escaping @Sendable () -> ActorRef<Int>?) { self.rally = rally; self.partner = partner }
    func receive(_ hits: Int, context: ActorContext<Int>) async throws {
        guard rally.isOn, let partner = partner() else { return }
        rally.hit()
        await partner.tell(hits + 1)
    }
}

final class Rally: Sendable {
    private let on = Atomic<Bool>(true)
    private let count = Atomic<Int>(0)
    var isOn: Bool { on.load(ordering: .relaxed) }
    var hits: Int { count.load(ordering: .relaxed) }
    func hit() { count.add(1, ordering: .relaxed) }
    func end() { on.store(false, ordering: .relaxed) }
}

/// Notes how many hits the rally had made when each of its messages was handled.
final class RallyWatcher: ActorBehavior {
    let rally: Rally
    let handled: HandledAt
    init(rally: Rally, handled: HandledAt) { self.rally = rally; self.handled = handled }
    func receive(_ message: Int, context: ActorContext<Int>) async throws {
        let hits = rally.hits
        handled.hits.withLock { $0.append(hits) }
    }
}

/// Shared between the test and a RallyWatcher.
final class HandledAt: Sendable {
    let hits = Mutex<[Int]>([])
}

@Suite struct DispatcherFairnessTests {
    /// Two actors passing a ball keep the only worker busy with local work for ever; a message sent from
    /// outside the workers (the injection queue) is handled within a bounded number of slices: Dispatcher.
    /// injectionInterval (61) looks per worker, a few hits of slack (counted, not timed).
    @Test func workQueuedFromOutsideRunsWithinABoundedNumberOfSlicesWhileLocalWorkKeepsTheOnlyWorkerBusy() async throws {
        let system = ActorSystem(name: "fair", configuration: .init(dispatcher: Dispatcher(workers: 1)))
        let rally = Rally()
        let ring = RingRefs()
        let players = try (0..<2).map { i in try system.spawn(Props { Bouncer(rally: rally) { ring.ref(after: i) } }, name: "player-\(i)") }
        ring.set(players)
        let handled = HandledAt()
        let watcher = try system.spawn(Props { RallyWatcher(rally: rally, handled: handled) }, name: "watcher")
        await players[0].tell(0)
        try await eventually(within: .seconds(10), "the rally to start") { rally.hits > 1_000 }
        for i in 1...5 {                                   // short: the rally holds a thread of the pool meanwhile
            let sentAt = rally.hits
            await watcher.tell(i)
            try await eventually(within: .seconds(30), "message \(i) to be handled") { handled.hits.withLock { $0.count } == i }
            let waited = handled.hits.withLock { $0[i - 1] } - sentAt
            #expect(waited <= 4 * 61, "message \(i) waited \(waited) hits of the rally")
        }
        rally.end()
        await system.shutdown()
    }
}
