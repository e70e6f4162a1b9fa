@testable import ActorRuntime
import ActorRuntimeTesting
import Synchronization
import Testing

/// A shared, ordered record of what happened, for tests of order.
final class EventLog: Sendable {
    private let entries = Mutex<[String]>([])
    func append(_ entry: String) { entries.withLock { $0.append(entry) } }
    var all: [String] { entries.withLock { $0 } }
}

/// Logs its postStop; holds its handler on a gate when told to.
final class LoggingChild: ActorBehavior {
    let name: String
    let log: EventLog
    let slowStop: Bool
    init(name: String, log: EventLog, slowStop: Bool = false) { self.name = name; self.log = log; self.slowStop = slowStop }
    func receive(_ gate: Gate, context: ActorContext<Gate>) async throws {
        log.append("holding \(name)")
        await gate.wait()
    }
    func postStop(context: ActorContext<Gate>) async {
        if slowStop {
            log.append("stopping \(name)")
            try? await Task.sleep(for: .milliseconds(20))       // a stop that takes a while (a flush, a close)
        }
        log.append("stopped \(name)")
    }
}

/// Starts the named children in order and hands out their references.
final class LoggingParent: ActorBehavior {
    let names: [String]
    let log: EventLog
    let shutdownTimeout: Duration
    let slowStop: Bool
    var refs: [ActorRef<Gate>] = []
    init(names: [String], log: EventLog, shutdownTimeout: Duration = .seconds(5), slowStop: Bool = false) {
        self.names = names; self.log = log; self.shutdownTimeout = shutdownTimeout; self.slowStop = slowStop
    }
    func preStart(context: ActorContext<ReplyTo<[ActorRef<Gate>]>>) async throws {
        refs = try names.map { name in
            try context.spawn(Props(shutdownTimeout: shutdownTimeout) { [log, slowStop] in LoggingChild(name: name, log: log, slowStop: slowStop) },
                              name: name)
        }
    }
    func receive(_ reply: ReplyTo<[ActorRef<Gate>]>, context: ActorContext<ReplyTo<[ActorRef<Gate>]>>) async throws { reply.send(refs) }
}

/// Watches the target it is given, then stops.
final class BriefWatcher: ActorBehavior {
    let target: ActorRef<Gate>
    init(target: ActorRef<Gate>) { self.target = target }
    func preStart(context: ActorContext<Int>) async throws {
        context.watch(target)
        context.stop()
    }
    func receive(_ message: Int, context: ActorContext<Int>) async throws {}
}

/// Fails its work once transiently, and starts a timer that fires during the retry's backoff.
final class TickingFlaky: ActorBehavior {
    enum Message: Sendable { case work, tick }
    struct Flake: Error {}
    let done: ActorRef<String>
    var failed = false
    init(done: ActorRef<String>) { self.done = done }
    func receive(_ message: Message, context: ActorContext<Message>) async throws {
        switch message {
        case .work:
            if !failed {
                failed = true
                context.timers.startSingle(key: "tick", message: .tick, delay: .milliseconds(50))
                throw TransientError(Flake())
            }
            await done.tell("work")
        case .tick:
            await done.tell("tick")
        }
    }
}

/// Always fails its message transiently.
final class AlwaysTransient: ActorBehavior {
    struct Flake: Error {}
    func receive(_ message: Int, context: ActorContext<Int>) async throws { throw TransientError(Flake()) }
}

/// Stopping is ordered (last started, first stopped), bounded (shutdown timeouts) and complete (nothing
/// waits on a sleep, no bookkeeping outlives an actor). docs/ARCHITECTURE.md, "Stopping".
/// Awaits something that honours cancellation (a long sleep) when told to; logs how its handler ended.
final class Sleeper: ActorBehavior {
    enum Message: Sendable { case sleep(Duration), nap(ReplyTo<Bool>) }
    let name: String
    let log: EventLog
    init(name: String, log: EventLog) { self.name = name; self.log = log }
    func receive(_ message: Message, context: ActorContext<Message>) async throws {
        switch message {
        case .sleep(let duration):
            log.append("sleeping \(name)")
            do { try await Task.sleep(for: duration) } catch { log.append("cancelled \(name)"); throw error }
        case .nap(let reply):
            // True when the handler's task was not cancelled (a worker whose task was cancelled for another
            // cell's forced stop must not run it).
            reply.send((try? await Task.sleep(for: .milliseconds(1))) != nil)
        }
    }
    func postStop(context: ActorContext<Message>) async { log.append("stopped \(name)") }
}

@Suite struct StoppingTests {
    /// One at a time: each child's stop (which takes a while) ends before the next one's begins.
    @Test func childrenStopOneAtATimeInReverseStartOrder() async throws {
        let kit = ActorTestKit()
        let log = EventLog()
        let parent = try kit.spawn(Props { LoggingParent(names: ["a", "b", "c", "d"], log: log, slowStop: true) }, name: "parent")
        _ = try await parent.ask(timeout: .seconds(20)) { $0 }
        await kit.shutdown()
        #expect(log.all == ["stopping d", "stopped d", "stopping c", "stopped c", "stopping b", "stopped b", "stopping a", "stopped a"])
    }

    @Test func aChildThatDoesNotStopInTimeIsGivenUpOnAndReportedAndTheRestStillStop() async throws {
        let kit = ActorTestKit()
        let log = EventLog()
        let parent = try kit.spawn(Props { LoggingParent(names: ["a", "stuck", "c"], log: log, shutdownTimeout: .milliseconds(300)) },
                                   name: "parent")
        let children = try await parent.ask(timeout: .seconds(20)) { $0 }
        let gate = Gate()
        await children[1].tell(gate)                          // holds its handler until the gate opens
        try await eventually(within: .seconds(10), "the stuck child to hold its handler") { log.all == ["holding stuck"] }
        await children[1].tell(Gate())                        // queued behind it
        #expect(children[1].mailboxDepth == 2)
        let events = kit.system.events.subscribe()            // ends when the system has terminated
        let shutdown = await outcome(within: .seconds(10)) { await kit.shutdown() }
        #expect(shutdown != nil, "shutdown is bounded by the shutdown timeouts")
        #expect(kit.system.notStoppedInTime == [children[1].path])
        #expect(log.all == ["holding stuck", "stopped c", "stopped a"])
        var announced = false, deadLettered = false
        for await event in events {
            if case .notStoppedInTime(children[1].path, _) = event { announced = true }
            if case .deadLetter(let l) = event, l.recipient == children[1].path, l.reason.contains("shutdown timeout") { deadLettered = true }
        }
        #expect(announced)
        #expect(deadLettered, "what it had queued is dead-lettered with the reason")
        gate.open()                                           // its handler returns: it runs its stop after all
        try await eventually(within: .seconds(10), "the given-up child to run postStop") { log.all.contains("stopped stuck") }
    }

    /// Past its shutdown timeout, a child's handler is cancelled: one awaiting something cancellable returns,
    /// the child runs postStop, and the workers go on without cancelled tasks.
    @Test func aChildThatDoesNotStopInTimeHasItsHandlerCancelledAndRunsItsStop() async throws {
        let kit = ActorTestKit()
        let log = EventLog()
        let sleeper = try kit.spawn(Props(restart: .transient, shutdownTimeout: .milliseconds(200)) { Sleeper(name: "s", log: log) },
                                    name: "sleeper")
        await sleeper.tell(.sleep(.seconds(3600)))
        await sleeper.tell(.sleep(.seconds(1)))                   // queued: becomes a dead letter
        try await eventually(within: .seconds(10), "the handler to sleep") { log.all == ["sleeping s"] }
        #expect(await outcome(within: .seconds(10)) { await kit.shutdown() } != nil)
        #expect(kit.system.notStoppedInTime == [sleeper.path])
        try await eventually(within: .seconds(10), "the cancelled handler to return and the stop to run") {
            log.all == ["sleeping s", "cancelled s", "stopped s"]
        }
        // The worker whose task was cancelled was replaced: handlers run after it are not cancelled.
        let next = ActorTestKit()
        let nappers = try (0..<20).map { i in try next.spawn(Props { Sleeper(name: "n\(i)", log: EventLog()) }, name: "n\(i)") }
        for napper in nappers { #expect(try await napper.ask(timeout: .seconds(10)) { .nap($0) }) }
        await next.shutdown()
    }

    /// The worker whose task was cancelled for a forced stop ends and is replaced: no later slice runs in a
    /// cancelled task. (A dispatcher of one worker, so that the slices after the cancel would run on it.)
    @Test func aWorkerWhoseHandlerWasCancelledIsReplaced() async throws {
        let dispatcher = Dispatcher(workers: 1)
        let entered = Recorder.Counter()
        let cancelled = Mutex<[Bool]>([])
        let stuck = Runnable {
            entered.increment()
            let interrupted = (try? await Task.sleep(for: .seconds(3600))) == nil
            cancelled.withLock { $0.append(interrupted) }
            return false
        }
        dispatcher.schedule(stuck)
        try await eventually(within: .seconds(10), "the slice to start") { entered.value == 1 }
        dispatcher.cancelHandler(of: stuck)
        try await eventually(within: .seconds(10), "the cancelled slice to end") { cancelled.withLock { $0.count } == 1 }
        for _ in 0..<20 { dispatcher.schedule(Runnable { cancelled.withLock { $0.append(Task.isCancelled) }; return false }) }
        try await eventually(within: .seconds(10), "the later slices to run") { cancelled.withLock { $0.count } == 21 }
        #expect(cancelled.withLock { $0 } == [true] + Array(repeating: false, count: 20))
        try await eventually(within: .seconds(10), "one worker, as before") { dispatcher.workerCount == 1 }
    }

    /// A supervisor given up on gives up on its children too: each still runs its stop, none is left running.
    @Test func aSupervisorGivenUpOnGivesUpOnItsChildrenWhichStillRunTheirStop() async throws {
        let kit = ActorTestKit()
        let log = EventLog()
        let parent = try kit.spawn(Props(shutdownTimeout: .milliseconds(300)) { LoggingParent(names: ["a", "stuck"], log: log) },
                                   name: "parent")
        let children = try await parent.ask(timeout: .seconds(20)) { $0 }
        let gate = Gate()
        await children[1].tell(gate)
        try await eventually(within: .seconds(10), "the stuck child to hold its handler") { log.all == ["holding stuck"] }
        #expect(await outcome(within: .seconds(10)) { await kit.shutdown() } != nil)
        #expect(kit.system.notStoppedInTime == [parent.path])
        try await eventually(within: .seconds(10), "the supervisor's other child to run its stop") { log.all.contains("stopped a") }
        gate.open()
        try await eventually(within: .seconds(10), "the stuck child to run its stop") { log.all.contains("stopped stuck") }
    }

    /// A timer that fires while a message waits out its retry backoff is delivered after it, and the
    /// retried message is not lost.
    @Test func aTimerFiringDuringARetryBackoffWaitsForTheRetriedMessage() async throws {
        let kit = ActorTestKit()
        let done = try kit.probe(String.self)
        let policy = FailurePolicy(retry: RetryPolicy(maxAttempts: 3, initialDelay: .milliseconds(300), maxDelay: .milliseconds(300), jitter: 0))
        let ref = try kit.spawn(Props(failurePolicy: policy) { TickingFlaky(done: done.ref) }, name: "ticking")
        await ref.tell(.work)
        #expect(try await done.expectMessages(2) == ["work", "tick"], "the retried message first, then the tick")
        await kit.shutdown()
    }

    @Test func anActorInARetryBackoffStopsAtOnceAndItsMessageIsDeadLettered() async throws {
        let kit = ActorTestKit()
        let slowRetry = FailurePolicy(retry: RetryPolicy(maxAttempts: 3, initialDelay: .seconds(60), maxDelay: .seconds(60), jitter: 0))
        let ref = try kit.spawn(Props(failurePolicy: slowRetry) { AlwaysTransient() }, name: "retrying")
        await ref.tell(1)
        try await kit.expectEvent("a retry scheduled") { if case .retrying(ref.path, _, _, _) = $0 { true } else { false } }
        let shutdown = await outcome(within: .seconds(10)) { await kit.shutdown() }
        #expect(shutdown != nil, "the backoff is a timer, not a sleep inside the handler")
        #expect(kit.history.contains {
            if case .deadLetter(let l) = $0 { l.recipient == ref.path && l.reason == "recipient stopped" && l.attempts == 1 } else { false }
        })
    }

    @Test func messagesBehindARetryWaitForItSoTheirOrderHolds() async throws {
        let kit = ActorTestKit()
        let done = try kit.probe(Int.self)
        let attempts = Attempts()
        let policy = FailurePolicy(retry: RetryPolicy(maxAttempts: 3, initialDelay: .milliseconds(50), maxDelay: .milliseconds(50)))
        let ref = try kit.spawn(Props(failurePolicy: policy) { FlakyActor(attempts: attempts, done: done.ref) }, name: "flaky")
        await ref.tell(.work(id: 1, failures: 1, kind: .transient))
        await ref.tell(.work(id: 2, failures: 0, kind: .transient))
        #expect(try await done.expectMessages(2) == [1, 2])
        await kit.shutdown()
    }

    @Test func aWatcherThatStopsIsRemovedFromTheWatchedActor() async throws {
        let kit = ActorTestKit()
        let log = EventLog()
        let target = try kit.spawn(Props { LoggingChild(name: "target", log: log) }, name: "target")
        for i in 0..<50 {
            let watcher = try kit.spawn(Props(restart: .transient) { BriefWatcher(target: target) }, name: "watcher-\(i)")
            try await kit.expectStopped(watcher.path)
        }
        try await eventually("no watcher left on the target", timeout: .seconds(10)) { await watcherCount(of: target) == 0 }
        await kit.shutdown()
    }
}

/// How many actors watch `ref` (the cell's own bookkeeping, asked through a system message).
func watcherCount<M>(of ref: ActorRef<M>) async -> Int {
    let reply = ReplyTo<Int>()
    ref.mailbox.sendSystem(.countWatchers(reply))
    return (try? await reply.value()) ?? -1
}

@Suite struct RestartWindowTests {
    /// The reset window starts when the child runs again, not at its crash: a child that crashed 3 s after
    /// an 8 s backoff ran 3 s, not the 11 s since its previous crash.
    @Test func consecutiveRestartsResetOnlyAfterTheChildRanResetAfterSinceItsRestart() {
        let backoff = RestartBackoff.exponential(initial: .seconds(8), maximum: .seconds(60), resetAfter: .seconds(10), jitter: 0)
        let record = ChildRecord(handle: Mailbox<Int>(id: .next(), path: ActorPath(["user", "x"]), capacity: 1,
                                                      deadLetters: ActorSystem(name: "window").deadLetters),
                                 props: Props(restartBackoff: backoff) { HoldingCounter() })
        let t0 = ContinuousClock.now
        #expect(record.nextRestartDelay(at: t0) == .seconds(8))                 // runs again at t0 + 8
        #expect(record.nextRestartDelay(at: t0 + .seconds(11)) == .seconds(16))  // ran 3 s: still consecutive
        #expect(record.nextRestartDelay(at: t0 + .seconds(11 + 16 + 11)) == .seconds(8), "ran 11 s: starts again")
    }
}
