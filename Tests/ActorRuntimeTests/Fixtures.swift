import ActorRuntime
import ActorRuntimeTesting
import Synchronization

/// A counter whose state shows whether an instance is fresh.
final class CounterActor: ActorBehavior {
    enum Message: Sendable {
        case increment
        case get(ReplyTo<Int>)
        case crash
        case stop
    }

    struct Boom: Error, CustomStringConvertible { var description: String { "boom" } }

    var count = 0

    func receive(_ message: Message, context: ActorContext<Message>) async throws {
        switch message {
        case .increment: count += 1
        case .get(let reply): reply.send(count)
        case .crash: throw Boom()
        case .stop: context.stop()
        }
    }
}

/// A supervisor that starts the named children (counters) in order and hands out their refs.
final class SupervisorActor: ActorBehavior {
    enum Message: Sendable { case children(ReplyTo<[ActorRef<CounterActor.Message>]>) }

    let names: [String]
    let childProps: Props<CounterActor>
    var refs: [ActorRef<CounterActor.Message>] = []

    init(names: [String], childProps: Props<CounterActor> = Props { CounterActor() }) {
        self.names = names
        self.childProps = childProps
    }

    func preStart(context: ActorContext<Message>) async throws {
        refs = try names.map { try context.spawn(childProps, name: $0) }
    }

    func receive(_ message: Message, context: ActorContext<Message>) async throws {
        if case .children(let reply) = message { reply.send(refs) }
    }
}

/// Lets a test hold an actor inside its handler until the test opens the gate.
final class Gate: Sendable {
    private let state = Mutex<(open: Bool, waiters: [UnsafeContinuation<Void, Never>])>((false, []))

    func wait() async {
        await withUnsafeContinuation { c in
            let open = state.withLock { s -> Bool in
                if s.open { return true }
                s.waiters.append(c)
                return false
            }
            if open { c.resume() }
        }
    }

    func open() {
        let waiters = state.withLock { s -> [UnsafeContinuation<Void, Never>] in
            s.open = true
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume() }
    }
}

/// Waits (checking every millisecond, with a deadline) until `condition` holds. It sleeps rather than
/// yields: a loop of yields keeps a thread of the two-thread cooperative pool busy, starving other tests.
func eventually(within timeout: Duration = .seconds(5), _ what: String, _ condition: () -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        guard ContinuousClock.now < deadline else { throw TestKitError("timed out waiting for \(what)") }
        try await Task.sleep(for: .milliseconds(1))
    }
}

func count(of ref: ActorRef<CounterActor.Message>) async throws -> Int {
    try await ref.ask(timeout: .seconds(5)) { .get($0) }
}
