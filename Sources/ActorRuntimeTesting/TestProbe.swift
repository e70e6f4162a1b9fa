import ActorRuntime

/// A stand-in actor for tests: give its ``ref`` to the actor under test, then await what it was sent.
///
///     let probe = try kit.probe(String.self)
///     await greeter.tell(.greet("ada", replyTo: probe.ref))
///     #expect(try await probe.expectMessage() == "hello ada")
public final class TestProbe<Message: Sendable>: Sendable {
    /// Send messages here.
    public let ref: ActorRef<Message>
    private let received: AwaitableQueue<Message>
    private let defaultTimeout: Duration

    init(system: ActorSystem, name: String, defaultTimeout: Duration) throws {
        let queue = AwaitableQueue<Message>()
        self.received = queue
        self.defaultTimeout = defaultTimeout
        self.ref = try system.spawn(Props(mailboxCapacity: 100_000) { Recorder(queue) }, name: name)
    }

    /// The next message; throws ``TestKitError`` if none arrives in time.
    @discardableResult
    public func expectMessage(within timeout: Duration? = nil) async throws -> Message {
        let t = timeout ?? defaultTimeout
        guard let m = await received.next(within: t) else {
            throw TestKitError("\(ref.path): expected a message within \(t), got none")
        }
        return m
    }

    /// The next `count` messages, in order.
    public func expectMessages(_ count: Int, within timeout: Duration? = nil) async throws -> [Message] {
        var out: [Message] = []
        for _ in 0..<count { out.append(try await expectMessage(within: timeout)) }
        return out
    }

    /// Succeeds if nothing arrives during `duration`; throws with the message otherwise.
    public func expectNoMessage(for duration: Duration = .milliseconds(200)) async throws {
        if let m = await received.next(within: duration) {
            throw TestKitError("\(ref.path): expected no message for \(duration), got \(m)")
        }
    }

    private final class Recorder: ActorBehavior {
        let queue: AwaitableQueue<Message>
        init(_ queue: AwaitableQueue<Message>) { self.queue = queue }
        func receive(_ message: Message, context: ActorContext<Message>) async throws { queue.append(message) }
    }
}
