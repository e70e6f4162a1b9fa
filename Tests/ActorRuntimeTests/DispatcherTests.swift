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
        let entered = try system.spawn(Props { Recorder() }, name: "entered")
        let blockers = try (0..<6).map { i in
            try system.spawn(Props { BlockingActor(gate: gate, entered: entered) }, name: "blocker-\(i)")
        }
        for (i, b) in blockers.enumerated() { await b.tell(i) }
        let counter = try system.spawn(Props { CounterActor() }, name: "counter")
        await counter.tell(.increment)
        // Every blocker entered its handler and is suspended, and yet the counter answers.
        try await eventually(within: .seconds(10), "all blockers to enter") { entered.mailboxDepth == 0 && Recorder.seen.value >= 6 }
        #expect(try await counter.ask(timeout: .seconds(5)) { .get($0) } == 1)
        gate.open()
        await system.shutdown()
    }
}

/// Counts what it receives in a process-wide counter (the test reads it without asking).
final class Recorder: ActorBehavior {
    static let seen = Counter()
    func receive(_ message: Int, context: ActorContext<Int>) async throws { Recorder.seen.increment() }

    final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var n = 0
        func increment() { lock.lock(); n += 1; lock.unlock() }
        var value: Int { lock.lock(); defer { lock.unlock() }; return n }
    }
}
