/// A handle to send messages to an actor. Stays valid across restarts; once the actor has stopped,
/// messages sent to it become dead letters.
public struct ActorRef<Message: Sendable>: Sendable, Hashable, CustomStringConvertible {
    @usableFromInline let mailbox: Mailbox<Message>

    @usableFromInline init(_ mailbox: Mailbox<Message>) { self.mailbox = mailbox }

    /// Where the actor lives.
    public var path: ActorPath { mailbox.path }

    /// This incarnation's identity.
    public var id: ActorID { mailbox.id }

    /// Sends a message, suspending while the mailbox is full (backpressure). Messages from one sender
    /// arrive in the order sent. To a stopped actor, the message becomes a dead letter.
    @inlinable
    public func tell(_ message: consuming Message) async {
        _ = await mailbox.send(message)
    }

    /// Offers a message without waiting: `.full` leaves it with the caller, `.closed` dead-letters it.
    @inlinable @discardableResult
    public func trySend(_ message: consuming Message) -> EnqueueResult { mailbox.offer(message) }

    /// Sends a message that carries a ``ReplyTo`` and waits for the answer.
    ///
    ///     let n = try await counter.ask(timeout: .seconds(1)) { .get(replyTo: $0) }
    ///
    /// The timeout covers the whole exchange, a wait for room in a full mailbox included. Inside a handler,
    /// prefer ``ActorContext/ask(_:timeout:_:map:)``, which does not hold the handler while it waits.
    /// - Throws: ``AskError`` when no reply comes within `timeout` or the actor has stopped;
    ///   `CancellationError` at once when the asking task is cancelled (a message still waiting for room
    ///   is withdrawn; a reply that comes later is dropped).
    public func ask<Reply: Sendable>(timeout: Duration, _ makeMessage: (ReplyTo<Reply>) -> Message) async throws -> Reply {
        let reply = ReplyTo<Reply>()
        return try await exchange(makeMessage(reply), awaiting: reply, timeout: timeout)
    }

    /// Sends `message`, which carries `reply`, and waits for the answer (see ``ask(timeout:_:)``).
    func exchange<Reply: Sendable>(_ message: Message, awaiting reply: ReplyTo<Reply>, timeout: Duration) async throws -> Reply {
        let target = path
        let timer = DeadlineTimer.shared.schedule(after: timeout) {
            reply.fail(AskError(.timedOut, target: target, timeout: timeout))
        }
        defer { DeadlineTimer.shared.cancel(timer) }
        switch await mailbox.send(message, deadline: .now + timeout) {
        case .admitted: break
        case .closed: throw AskError(.recipientStopped, target: target, timeout: timeout)
        case .timedOut: throw AskError(.timedOut, target: target, timeout: timeout)
        case .cancelled: throw CancellationError()
        }
        Dispatcher.workerWillBlock()
        return try await withTaskCancellationHandler {
            try await reply.value()
        } onCancel: {
            reply.fail(CancellationError())
        }
    }

    /// Messages waiting, including those being handled (for metrics and tests).
    public var mailboxDepth: Int { mailbox.depth }

    public var description: String { "ActorRef(\(path))" }

    public static func == (a: Self, b: Self) -> Bool { a.mailbox === b.mailbox }
    public func hash(into h: inout Hasher) { h.combine(ObjectIdentifier(mailbox)) }
}
