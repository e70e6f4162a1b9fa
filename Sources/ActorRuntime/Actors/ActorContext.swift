import Logging

/// What a behaviour can do besides handling its message: know itself, spawn and stop children, watch
/// other actors, set timers, log. Valid only inside the behaviour's own handlers and hooks.
public final class ActorContext<Message: Sendable> {
    /// This actor's own reference (to give to others, or to send itself messages).
    public let myself: ActorRef<Message>
    /// This actor's timers (made on first use: an actor without timers keeps none).
    public var timers: TimerScheduler<Message> {
        if let startedTimers { return startedTimers }
        let made = TimerScheduler<Message>(target: myself.mailbox)
        startedTimers = made
        return made
    }
    /// The timers, if any were ever asked for.
    private(set) var startedTimers: TimerScheduler<Message>?
    /// A logger carrying `troupe.actor.path` (made on first use).
    public lazy var logger: Logger = {
        var logger = core.system.logger
        logger[metadataKey: LogKey.actorPath] = "\(path)"
        return logger
    }()
    @usableFromInline unowned let core: CellCore

    init(myself: ActorRef<Message>, core: CellCore) {
        self.myself = myself
        self.core = core
    }

    /// Where this actor lives.
    public var path: ActorPath { myself.path }

    /// The system this actor belongs to.
    public var system: ActorSystem { core.system }

    /// Paths of the current children, in start order.
    public var children: [ActorPath] { core.children.map(\.path) }

    /// Starts a child supervised by this actor (name generated when nil).
    @inlinable
    public func spawn<C: ActorBehavior>(_ props: Props<C>, name: String? = nil) throws(ActorSystemError) -> ActorRef<C.Message> {
        try core.spawnChild(props, name: name)
    }

    /// Stops this actor once the current message is handled. Its parent restarts it if it is `permanent`
    /// (OTP); a `transient` or `temporary` actor stops for good. Called in `preStart`, it stops for good
    /// whatever its type (OTP's `ignore`); followed by a crash, the crash decides.
    public func stop() { core.stopSelfRequested = true }

    /// Stops one of this actor's children (ignored for other actors). A child stopped by its parent is not
    /// restarted, whatever its restart type, and is not significant's "stopped on its own" (OTP's `terminate_child`).
    public func stop<M>(_ child: ActorRef<M>) {
        guard let index = core.children.firstIndex(where: { $0.id == child.id }) else { return }
        core.children[index].stopRequested = true
        child.mailbox.sendSystem(.stop)
    }

    /// Asks to be told, through ``Signal/terminated(_:)``, when `other` stops (at once if it already has).
    public func watch<M>(_ other: ActorRef<M>) {
        guard other.id != myself.id, core.watching[other.id] == nil else { return }
        core.watching[other.id] = other.mailbox
        if !other.mailbox.sendSystem(.watch(myself.mailbox)) {
            myself.mailbox.sendSystem(.terminated(other.path, other.id))
        }
    }

    /// Asks `target` without holding this handler (Akka's `context.ask`): the answer, or the failure
    /// (``AskError`` when no reply comes within `timeout` or `target` has stopped), comes back to this actor
    /// as the message `map` makes of it, admitted even when the mailbox is full. Meanwhile the actor goes on
    /// handling messages. Arriving after this actor stopped, it becomes a dead letter.
    ///
    ///     context.ask(inventory, timeout: .seconds(2), { .reserve(sku, replyTo: $0) }) { .reserved($0) }
    public func ask<Request: Sendable, Reply: Sendable>(
        _ target: ActorRef<Request>, timeout: Duration, _ makeRequest: (ReplyTo<Reply>) -> Request,
        map: @escaping @Sendable (Result<Reply, any Error>) -> Message
    ) {
        let reply = ReplyTo<Reply>()
        let request = makeRequest(reply)
        let mailbox = myself.mailbox
        Task {
            let result: Result<Reply, any Error>
            do { result = .success(try await target.exchange(request, awaiting: reply, timeout: timeout)) } catch { result = .failure(error) }
            mailbox.deliverToSelf(map(result))
        }
    }

    /// Runs `operation` outside this handler and sends its outcome to this actor as the message `map`
    /// makes of it (Akka's `pipeToSelf`), admitted even when the mailbox is full: for I/O or any await
    /// that should not hold the actor. Arriving after this actor stopped, it becomes a dead letter.
    public func pipeToSelf<Value: Sendable>(
        _ operation: @escaping @Sendable () async throws -> Value,
        map: @escaping @Sendable (Result<Value, any Error>) -> Message
    ) {
        let mailbox = myself.mailbox
        Task {
            let result: Result<Value, any Error>
            do { result = .success(try await operation()) } catch { result = .failure(error) }
            mailbox.deliverToSelf(map(result))
        }
    }

    /// Stops watching `other`.
    public func unwatch<M>(_ other: ActorRef<M>) {
        guard core.watching.removeValue(forKey: other.id) != nil else { return }
        other.mailbox.sendSystem(.unwatch(myself.id))
    }
}
