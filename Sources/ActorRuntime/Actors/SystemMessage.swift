/// Runtime-internal messages between cells. They bypass the bounded user queue and are handled
/// before user messages, so supervision works even when a mailbox is full.
@usableFromInline
enum SystemMessage: Sendable {
    /// child -> parent: the child's handler crashed; it waits for a decision.
    case childFailed(ActorID, any Error)
    /// child -> parent: the child has stopped for good.
    case childTerminated(ActorID)
    /// parent -> child: restart after `delay` (a fresh instance from props).
    case restart(reason: String, delay: Duration)
    /// self: the restart backoff has elapsed; restart for `reason`, after `delay`.
    case restartNow(generation: UInt64, reason: String, delay: Duration)
    /// parent -> child: taken down for a one-for-all or rest-for-one restart (children stopped, `preRestart`
    /// run, instance dropped); answer `childSuspended`, then wait for `resume`.
    case suspend(reason: String)
    /// parent -> child: start a fresh instance after a `suspend`; answer `childResumed` once it runs.
    case resume(reason: String, delay: Duration)
    /// child -> parent: taken down as asked by `suspend`.
    case childSuspended(ActorID)
    /// child -> parent: started again as asked by `resume`.
    case childResumed(ActorID)
    /// self: the backoff of a one-for-all or rest-for-one restart has passed.
    case planBackoffDone(generation: UInt64)
    /// anyone -> actor: stop (children first, then postStop).
    case stop
    /// watcher -> watched: tell `watcher` when you stop.
    case watch(any SystemMessageTarget)
    /// watcher -> watched: never mind.
    case unwatch(ActorID)
    /// watched -> watcher: it stopped.
    case terminated(ActorPath, ActorID)
    /// self: a timer fired.
    case timerFired(key: String, generation: UInt64)
    /// self: the backoff before retrying a message that failed transiently has passed.
    case retryDue(generation: UInt64)
    /// self: a child asked to stop (or to suspend) has not within its shutdown timeout; `generation` tells this
    /// timer from an earlier one for the same child.
    case childStopTimedOut(ActorID, generation: UInt64)
    /// test -> actor: how many actors watch it (for tests of death watch's bookkeeping).
    case countWatchers(ReplyTo<Int>)
    /// system -> guardian: a top-level actor was spawned under you.
    case adopt(ChildRecord)
}

/// Anything system messages can be sent to: a mailbox, seen without its user message type.
@usableFromInline
protocol SystemMessageTarget: AnyObject, Sendable {
    var id: ActorID { get }
    var path: ActorPath { get }
    /// Returns false when the actor has already stopped.
    @discardableResult func sendSystem(_ message: SystemMessage) -> Bool
    /// True once the actor has closed its mailbox, stopping (or been given up on).
    var hasStopped: Bool { get }
    /// Closes the mailbox of an actor that did not stop in time: what is queued becomes dead letters with
    /// `reason`, later messages too; the cell runs its stop when its handler returns.
    func forceClose(reason: String)
}
