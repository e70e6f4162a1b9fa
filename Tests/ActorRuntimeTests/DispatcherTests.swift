import ActorRuntime
import ActorRuntimeTesting
import Foundation
import Testing

/// Parks its handler on a gate the runtime knows nothing about (as a user's own await would).
final class BlockingActor: ActorBehavior {
    let gate: Gate
    let entered: ActorRef<Int>
    init(gate: Gate, entered: ActorRef<Int>) { self.gate = gate; self.entered = entered }
    func receive(_ message: Int, context: ActorContext<Int>) async throws {
        await entered.tell(message)
        await gate.wait()
    }
}

@Suite struct DispatcherTests {
    @Test func actorsKeepRunningWhileMoreHandlersThanCoresAreSuspended() async throws {
        // A dispatcher of its own, so that other tests' actors cannot mask a stall.
        let dispatcher = Dispatcher(workers: 2)
        let system = ActorSystem(name: "blocking", configuration: .init(dispatcher: dispatcher))
        let gate = Gate()
        let seen = Recorder.Counter()
        let entered = try system.spawn(Props { Recorder(seen: seen) }, name: "entered")
        let blockers = try (0..<6).map { i in
            try system.spawn(Props { BlockingActor(gate: gate, entered: entered) }, name: "blocker-\(i)")
        }
        for (i, b) in blockers.enumerated() { await b.tell(i) }
        let counter = try system.spawn(Props { CounterActor() }, name: "counter")
        await counter.tell(.increment)
        // Every blocker entered its handler and is suspended, and yet the counter answers.
        try await eventually(within: .seconds(10), "all blockers to enter") { seen.value >= 6 }
        #expect(try await counter.ask(timeout: .seconds(5)) { .get($0) } == 1)
        gate.open()
        await system.shutdown()
    }

    /// A dispatcher of one's own can be shut down: its workers and its monitor thread end, and the call returns.
    @Test func aDispatcherShutsDownItsWorkersAndMonitor() async throws {
        let dispatcher = Dispatcher(workers: 2)
        let system = ActorSystem(name: "ending", configuration: .init(dispatcher: dispatcher))
        let counter = try system.spawn(Props { CounterActor() }, name: "counter")
        await counter.tell(.increment)
        #expect(try await counter.ask(timeout: .seconds(5)) { .get($0) } == 1)
        await system.shutdown()
        #expect(dispatcher.workerCount > 0 && dispatcher.monitorIsRunning)
        #expect(await outcome(within: .seconds(10)) { await dispatcher.shutdown() } != nil, "shutdown returns")
        #expect(dispatcher.workerCount == 0)
        #expect(!dispatcher.monitorIsRunning)
        // Work scheduled afterwards still runs: a worker starts for it.
        let late = ActorSystem(name: "late", configuration: .init(dispatcher: dispatcher))
        let again = try late.spawn(Props { CounterActor() }, name: "counter")
        #expect(try await again.ask(timeout: .seconds(5)) { .get($0) } == 0)
        await late.shutdown()
        #expect(await outcome(within: .seconds(10)) { await dispatcher.shutdown() } != nil, "a second shutdown returns too")
    }
}

/// Sends `count` numbered items to a target from inside one handler, blocking whenever its mailbox is full.
final class BurstSender: ActorBehavior {
    let id: Int
    let target: ActorRef<OrderChecker.Message>
    let count: Int
    init(id: Int, target: ActorRef<OrderChecker.Message>, count: Int) { self.id = id; self.target = target; self.count = count }
    func receive(_ message: Int, context: ActorContext<Int>) async throws {
        for seq in 0..<count { await target.tell(.item(sender: id, seq: seq)) }
    }
}

@Suite struct DispatcherBackpressureTests {
    @Test func actorsBlockedOnAFullMailboxDeliverEverythingInOrderOnOneWorker() async throws {
        let system = ActorSystem(name: "backpressure", configuration: .init(dispatcher: Dispatcher(workers: 1)))
        let tally = Recorder.Counter()
        let checker = try system.spawn(Props(mailboxCapacity: 4) { OrderChecker(tally: tally) }, name: "checker")
        let senders = try (0..<10).map { i in
            try system.spawn(Props { BurstSender(id: i, target: checker, count: 2_000) }, name: "sender-\(i)")
        }
        for s in senders { await s.tell(0) }
        try await eventually(within: .seconds(30), "every item to arrive") {
            tally.value >= 20_000
        }
        let report = try await checker.ask(timeout: .seconds(10)) { .report($0) }
        #expect(report.received == 20_000)
        #expect(report.violations == 0)
        await system.shutdown()
    }
}

/// Counts what it receives in a counter the test reads without asking.
final class Recorder: ActorBehavior {
    let seen: Counter
    init(seen: Counter) { self.seen = seen }
    func receive(_ message: Int, context: ActorContext<Int>) async throws { seen.increment() }

    final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var n = 0
        func increment() { lock.lock(); n += 1; lock.unlock() }
        var value: Int { lock.lock(); defer { lock.unlock() }; return n }
    }
}
