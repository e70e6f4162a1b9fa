/// The body of an actor: its state and how it handles each message.
///
/// The runtime creates instances from ``Props`` (again on every restart, so state is fresh) and calls
/// ``receive(_:context:)`` one message at a time, never concurrently, so a behaviour's stored properties
/// need no locks. Lifecycle hooks let it acquire and release resources:
///
///     preStart ─▶ receive… ─┬─▶ postStop                         (stopped)
///                           └─▶ preRestart ─▶ (new) preStart ─▶ … (crashed and restarted)
public protocol ActorBehavior: AnyObject, SendableMetatype {
    associatedtype Message: Sendable

    /// Handles one message. Throwing hands the error to the actor's ``FailurePolicy``.
    func receive(_ message: Message, context: ActorContext<Message>) async throws

    /// Handles a runtime signal, e.g. ``Signal/terminated(_:)`` from death watch. Default: ignore.
    func receiveSignal(_ signal: Signal, context: ActorContext<Message>) async throws

    /// Runs before the first message (also on the fresh instance after a restart). Throwing is a crash.
    func preStart(context: ActorContext<Message>) async throws

    /// Runs once when the actor has stopped, after its children stopped.
    func postStop(context: ActorContext<Message>) async

    /// Runs on the failed instance before it is replaced, after its children stopped.
    func preRestart(reason: any Error, context: ActorContext<Message>) async
}

extension ActorBehavior {
    public func receiveSignal(_ signal: Signal, context: ActorContext<Message>) async throws {}
    public func preStart(context: ActorContext<Message>) async throws {}
    public func postStop(context: ActorContext<Message>) async {}
    public func preRestart(reason: any Error, context: ActorContext<Message>) async {}
}

/// Messages the runtime sends to a behaviour.
public enum Signal: Sendable, Hashable {
    /// A watched actor stopped (see ``ActorContext/watch(_:)``).
    case terminated(ActorPath)
}
