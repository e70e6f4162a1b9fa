import ActorRuntime
import ActorRuntimeTesting
import Testing

/// Tells itself `n` ticks from one handler, then reports how many it handled.
final class SelfTeller: ActorBehavior {
    enum Message: Sendable { case start(Int), tick }
    let done: ActorRef<Int>
    var expected = 0
    var ticks = 0
    init(done: ActorRef<Int>) { self.done = done }
    func receive(_ message: Message, context: ActorContext<Message>) async throws {
        switch message {
        case .start(let n):
            expected = n
            for _ in 0..<n { await context.myself.tell(.tick) }
        case .tick:
            ticks += 1
            if ticks == expected { await done.tell(ticks) }
        }
    }
}

/// One of two actors in a cycle: a burst tells the peer `n` hits; each hit is answered with an echo.
final class CycleActor: ActorBehavior {
    enum Message: Sendable { case connect(ActorRef<Message>), burst(Int), hit, echo }
    let hits: Recorder.Counter
    let echoes: Recorder.Counter
    var peer: ActorRef<Message>?
    init(hits: Recorder.Counter, echoes: Recorder.Counter) { self.hits = hits; self.echoes = echoes }
    func receive(_ message: Message, context: ActorContext<Message>) async throws {
        switch message {
        case .connect(let p): peer = p
        case .burst(let n): for _ in 0..<n { await peer?.tell(.hit) }
        case .hit:
            hits.increment()
            await peer?.tell(.echo)
        case .echo: echoes.increment()
        }
    }
}

/// A counter that can be held inside a handler on a gate.
final class HoldingCounter: ActorBehavior {
    enum Message: Sendable { case hold(Gate), increment, get(ReplyTo<Int>) }
    var count = 0
    func receive(_ message: Message, context: ActorContext<Message>) async throws {
        switch message {
        case .hold(let gate): await gate.wait()
        case .increment: count += 1
        case .get(let reply): reply.send(count)
        }
    }
}

/// Asks from inside its handlers without waiting there, and reports what happens to a probe.
final class Asker: ActorBehavior {
    enum Message: Sendable {
        case ask(ActorRef<HoldingCounter.Message>, timeout: Duration)
        case pipe(Gate)
        case ping
        case answer(Result<Int, any Error>)
    }
    let report: ActorRef<String>
    init(report: ActorRef<String>) { self.report = report }
    func receive(_ message: Message, context: ActorContext<Message>) async throws {
        switch message {
        case .ask(let target, let timeout):
            context.ask(target, timeout: timeout, { .get($0) }) { .answer($0) }
            await report.tell("asked")
        case .pipe(let gate):
            context.pipeToSelf({ await gate.wait(); return 7 }) { .answer($0) }
            await report.tell("piped")
        case .ping:
            await report.tell("ping")
        case .answer(.success(let n)):
            await report.tell("answer \(n)")
        case .answer(.failure(let error)):
            await report.tell("failed \((error as? AskError)?.code.rawValue ?? "\(error)")")
        }
    }
}

/// Runs `body` in a task and waits at most `timeout` for its outcome: nil when it had not finished (it is
/// then cancelled), so that a test of "does not hang" fails instead of hanging.
func outcome<T: Sendable>(within timeout: Duration, _ body: @escaping @Sendable () async throws -> T) async -> Result<T, any Error>? {
    let done = AwaitableQueue<Result<T, any Error>>()
    let task = Task {
        do { done.append(.success(try await body())) } catch { done.append(.failure(error)) }
    }
    guard let result = await done.next(within: timeout) else {
        task.cancel()
        return nil
    }
    return result
}

/// The rules that keep bounded mailboxes from deadlocking (docs/ARCHITECTURE.md, "Backpressure").
@Suite struct BackpressureRuleTests {
    @Test func aHandlerTellingItselfTenTimesItsCapacityCompletesAndLosesNothing() async throws {
        let kit = ActorTestKit()
        let done = try kit.probe(Int.self)
        let teller = try kit.spawn(Props(mailboxCapacity: 8) { SelfTeller(done: done.ref) }, name: "teller")
        await teller.tell(.start(80))
        #expect(try await done.expectMessage() == 80)
        #expect(kit.system.deadLetters.count == 0)
        #expect(await outcome(within: .seconds(10)) { await kit.shutdown() } != nil, "shutdown returns")
    }

    @Test func actorsTellingEachOtherInACycleWhileFullFinishAndDeadLetterOnlyWhatWaitedPastThePushTimeout() async throws {
        let kit = ActorTestKit()
        let hits = Recorder.Counter(), echoes = Recorder.Counter()
        let props = Props(mailboxCapacity: 2, mailboxPushTimeout: .milliseconds(50)) { CycleActor(hits: hits, echoes: echoes) }
        let a = try kit.spawn(props, name: "a")
        let b = try kit.spawn(props, name: "b")
        await a.tell(.connect(b))
        await b.tell(.connect(a))
        let sent = 40
        await a.tell(.burst(sent))
        func deadLetters(_ kind: CycleActor.Message) -> Int {
            kit.history.filter { event in
                guard case .deadLetter(let letter) = event, letter.reason.contains("push timeout"),
                      let m = letter.message as? CycleActor.Message else { return false }
                switch (m, kind) {
                case (.hit, .hit), (.echo, .echo): return true
                default: return false
                }
            }.count
        }
        // Every hit and every echo is either handled or a dead letter that says why; none waits for ever.
        try await eventually(within: .seconds(30), "every hit and echo accounted for") {
            hits.value + deadLetters(.hit) == sent && echoes.value + deadLetters(.echo) == hits.value
        }
        #expect(deadLetters(.hit) + deadLetters(.echo) > 0, "the cycle did block: the push timeout ended it")
        #expect(await outcome(within: .seconds(10)) { await kit.shutdown() } != nil, "shutdown returns")
    }

    @Test func anAskTimesOutWhileTheTargetsMailboxStaysFull() async throws {
        let kit = ActorTestKit()
        let gate = Gate()
        // Capacity 2: the held message counts until the handler is done with it, the increment takes the other place.
        let target = try kit.spawn(Props(mailboxCapacity: 2) { HoldingCounter() }, name: "target")
        await target.tell(.hold(gate))
        await target.tell(.increment)
        try await eventually(within: .seconds(10), "the mailbox to be full") { target.mailboxDepth == 2 }
        let result = await outcome(within: .seconds(10)) { try await target.ask(timeout: .milliseconds(200)) { .get($0) } }
        guard case .failure(let error as AskError)? = result else {
            Issue.record("expected the ask to time out, got \(String(describing: result))")
            return
        }
        #expect(error.code == .timedOut)
        #expect(target.mailboxDepth == 2, "the ask's message was withdrawn")
        gate.open()
        #expect(try await target.ask(timeout: .seconds(5)) { .get($0) } == 1)
        await kit.shutdown()
    }

    @Test func aCancelledAskReturnsAtOnceWhetherWaitingForRoomOrForTheReply() async throws {
        let kit = ActorTestKit()
        let gate = Gate()
        let full = try kit.spawn(Props(mailboxCapacity: 2) { HoldingCounter() }, name: "full")
        await full.tell(.hold(gate))
        await full.tell(.increment)
        try await eventually(within: .seconds(10), "the mailbox to be full") { full.mailboxDepth == 2 }
        // Waiting for room.
        let waiting = Task { try await full.ask(timeout: .seconds(60)) { .get($0) } }
        try await eventually(within: .seconds(10), "the ask to wait for room") { full.mailboxDepth == 3 }
        waiting.cancel()
        let first = await outcome(within: .seconds(5)) { try await waiting.value }
        guard case .failure(let e1)? = first, e1 is CancellationError else {
            Issue.record("expected CancellationError, got \(String(describing: first))")
            return
        }
        #expect(full.mailboxDepth == 2, "the waiting message was withdrawn")
        // Waiting for the reply (the message is in the mailbox of a held actor).
        let roomy = try kit.spawn(Props(mailboxCapacity: 10) { HoldingCounter() }, name: "roomy")
        await roomy.tell(.hold(gate))
        let asked = Task { try await roomy.ask(timeout: .seconds(60)) { .get($0) } }
        try await eventually(within: .seconds(10), "the ask's message to be queued") { roomy.mailboxDepth == 2 }
        asked.cancel()
        let second = await outcome(within: .seconds(5)) { try await asked.value }
        guard case .failure(let e2)? = second, e2 is CancellationError else {
            Issue.record("expected CancellationError, got \(String(describing: second))")
            return
        }
        gate.open()                                        // the late reply is dropped
        #expect(try await roomy.ask(timeout: .seconds(5)) { .get($0) } == 0)
        await kit.shutdown()
    }

    /// A kit with an Asker reporting to a probe, and a counter to ask that can be held on `gate`.
    func askerAndTarget() throws -> (ActorTestKit, TestProbe<String>, ActorRef<Asker.Message>, ActorRef<HoldingCounter.Message>, Gate) {
        let kit = ActorTestKit()
        let report = try kit.probe(String.self)
        let asker = try kit.spawn(Props { Asker(report: report.ref) }, name: "asker")
        let target = try kit.spawn(Props { HoldingCounter() }, name: "target")
        return (kit, report, asker, target, Gate())
    }

    @Test func contextAskDeliversTheReplyAsAMessageWithoutHoldingTheHandler() async throws {
        let (kit, report, asker, target, gate) = try askerAndTarget()
        await target.tell(.increment)
        await target.tell(.hold(gate))
        await asker.tell(.ask(target, timeout: .seconds(10)))
        #expect(try await report.expectMessage() == "asked")
        await asker.tell(.ping)
        #expect(try await report.expectMessage() == "ping", "the asker handles messages while its ask is pending")
        gate.open()
        #expect(try await report.expectMessage() == "answer 1")
        await kit.shutdown()
    }

    @Test func contextAskDeliversATimeoutAsAMessage() async throws {
        let (kit, report, asker, target, gate) = try askerAndTarget()
        await target.tell(.hold(gate))
        await asker.tell(.ask(target, timeout: .milliseconds(100)))
        #expect(try await report.expectMessage() == "asked")
        #expect(try await report.expectMessage() == "failed timedOut")
        gate.open()
        await kit.shutdown()
    }

    @Test func pipeToSelfDeliversTheOutcomeAsAMessageWithoutHoldingTheHandler() async throws {
        let (kit, report, asker, _, gate) = try askerAndTarget()
        await asker.tell(.pipe(gate))
        #expect(try await report.expectMessage() == "piped")
        await asker.tell(.ping)
        #expect(try await report.expectMessage() == "ping")
        gate.open()
        #expect(try await report.expectMessage() == "answer 7")
        await kit.shutdown()
    }
}
