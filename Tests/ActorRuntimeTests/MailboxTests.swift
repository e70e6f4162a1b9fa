import ActorRuntime
import ActorRuntimeTesting
import Synchronization
import Testing

/// Holds every message at a gate, then records it.
final class GatedActor: ActorBehavior {
    let gate: Gate
    let seen: TestProbe<Int>
    init(gate: Gate, seen: TestProbe<Int>) { self.gate = gate; self.seen = seen }
    func receive(_ message: Int, context: ActorContext<Int>) async throws {
        await gate.wait()
        await seen.ref.tell(message)
    }
}

/// Records, per sender, whether sequence numbers ever went backwards.
final class OrderChecker: ActorBehavior {
    enum Message: Sendable { case item(sender: Int, seq: Int), report(ReplyTo<(received: Int, violations: Int)>) }
    /// Counts items as they arrive, for tests that poll instead of asking.
    let tally: Recorder.Counter?
    init(tally: Recorder.Counter? = nil) { self.tally = tally }
    var last: [Int: Int] = [:]
    var received = 0
    var violations = 0
    func receive(_ message: Message, context: ActorContext<Message>) async throws {
        switch message {
        case .item(let sender, let seq):
            if let prev = last[sender], seq != prev + 1 { violations += 1 }
            last[sender] = seq
            received += 1
            tally?.increment()
        case .report(let r): r.send((received, violations))
        }
    }
}

/// Never answers.
final class SilentActor: ActorBehavior {
    func receive(_ message: ReplyTo<Int>, context: ActorContext<ReplyTo<Int>>) async throws {}
}

@Suite struct MailboxTests {
    @Test func aFullMailboxSuspendsTheSenderUntilThereIsRoom() async throws {
        let kit = ActorTestKit()
        let gate = Gate()
        let seen = try kit.probe(Int.self)
        let ref = try kit.spawn(Props(mailboxCapacity: 2) { GatedActor(gate: gate, seen: seen) }, name: "gated")
        await ref.tell(1)                                   // taken by the actor, which now waits at the gate
        await ref.tell(2)
        try await eventually("both messages to be held") { ref.mailboxDepth == 2 }
        #expect(ref.trySend(99) == .full)                   // capacity 2 reached: nothing enqueued
        let sent = Mutex(false)
        let sender = Task {
            await ref.tell(3)                               // must suspend: the mailbox is full
            sent.withLock { $0 = true }
        }
        try await eventually("the third sender to be parked") { ref.mailboxDepth == 3 }
        #expect(sent.withLock { $0 } == false, "the sender must still be suspended while the mailbox is full")
        gate.open()
        await sender.value
        #expect(sent.withLock { $0 })
        #expect(try await seen.expectMessages(3) == [1, 2, 3])
        await kit.shutdown()
    }

    @Test func eachSendersOrderHoldsUnderLoad() async throws {
        let kit = ActorTestKit()
        let checker = try kit.spawn(Props(mailboxCapacity: 16) { OrderChecker() }, name: "checker")
        let senders = 8, perSender = 20_000
        await withTaskGroup(of: Void.self) { group in
            for s in 0..<senders {
                group.addTask { for i in 0..<perSender { await checker.tell(.item(sender: s, seq: i)) } }
            }
        }
        let report = try await checker.ask(timeout: .seconds(10)) { .report($0) }
        #expect(report.received == senders * perSender)
        #expect(report.violations == 0)
        await kit.shutdown()
    }

    @Test func askTimesOutWithATypedError() async throws {
        let kit = ActorTestKit()
        let silent = try kit.spawn(Props { SilentActor() }, name: "silent")
        let start = ContinuousClock.now
        await #expect(throws: AskError(.timedOut, target: silent.path, timeout: .milliseconds(100))) {
            try await silent.ask(timeout: .milliseconds(100)) { $0 }
        }
        #expect(ContinuousClock.now - start >= .milliseconds(100))
        await kit.shutdown()
    }

    @Test func askToAStoppedActorFailsAtOnce() async throws {
        let kit = ActorTestKit()
        let counter = try kit.spawn(Props(restart: .transient) { CounterActor() }, name: "counter")
        await counter.tell(.stop)
        try await kit.expectStopped(counter.path)
        await #expect(throws: AskError(.recipientStopped, target: counter.path, timeout: .seconds(5))) {
            try await counter.ask(timeout: .seconds(5)) { .get($0) }
        }
        await kit.shutdown()
    }

    @Test func messagesToAStoppedActorAreDeadLettersCountedAndAnnounced() async throws {
        let kit = ActorTestKit()
        let counter = try kit.spawn(Props(restart: .transient) { CounterActor() }, name: "counter")
        await counter.tell(.stop)
        try await kit.expectStopped(counter.path)
        let before = kit.system.deadLetters.count
        await counter.tell(.increment)
        #expect(counter.trySend(.increment) == .closed)
        let letter = try await kit.expectDeadLetter(to: counter.path)
        #expect(letter.reason == "recipient stopped")
        #expect(kit.system.deadLetters.count == before + 2)
        await kit.shutdown()
    }

    @Test func spawnRejectsBadAndDuplicateNames() async throws {
        let kit = ActorTestKit()
        _ = try kit.spawn(Props { CounterActor() }, name: "a")
        #expect(throws: ActorSystemError.self) { try kit.spawn(Props { CounterActor() }, name: "a") }
        #expect(throws: ActorSystemError.self) { try kit.spawn(Props { CounterActor() }, name: "x/y") }
        #expect(throws: ActorSystemError.self) { try kit.spawn(Props { CounterActor() }, name: "") }
        await kit.shutdown()
        #expect(throws: ActorSystemError.self) { try kit.spawn(Props { CounterActor() }, name: "late") }
    }
}
