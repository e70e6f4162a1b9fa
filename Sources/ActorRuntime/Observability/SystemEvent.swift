/// Lifecycle facts an actor system announces on its ``EventStream``: what tests await and what
/// operators' metrics count.
public enum SystemEvent: Sendable, CustomStringConvertible {
    /// An actor ran its pre-start hook and takes messages.
    case started(ActorPath)
    /// A handler failed (crash: the supervisor decides next).
    case failed(ActorPath, reason: String)
    /// A fresh instance replaced a failed one; `delay` is the backoff that was applied.
    case restarted(ActorPath, reason: String, delay: Duration)
    /// A message is being retried by the failure policy.
    case retrying(ActorPath, attempt: Int, delay: Duration, reason: String)
    /// A supervisor's restart intensity was exceeded; it escalates to its own parent.
    case escalated(ActorPath, reason: String)
    /// An actor stopped for good.
    case stopped(ActorPath)
    /// An actor did not stop within its shutdown timeout: its parent gave up on it (closed its mailbox) and
    /// went on stopping the rest.
    case notStoppedInTime(ActorPath, timeout: Duration)
    /// See ``DeadLetter``.
    case deadLetter(DeadLetter)
    /// The whole system terminated.
    case systemTerminated(ActorSystem.Termination)

    public var description: String {
        switch self {
        case .started(let p): "started \(p)"
        case .failed(let p, let r): "failed \(p): \(r)"
        case .restarted(let p, let r, let d): "restarted \(p) after \(d): \(r)"
        case .retrying(let p, let a, let d, let r): "retrying at \(p), attempt \(a) in \(d): \(r)"
        case .escalated(let p, let r): "escalated from \(p): \(r)"
        case .stopped(let p): "stopped \(p)"
        case .notStoppedInTime(let p, let t): "\(p) did not stop within \(t); given up on"
        case .deadLetter(let l): l.description
        case .systemTerminated(let t): "system terminated: \(t)"
        }
    }

    /// The actor the event is about, when there is one.
    public var path: ActorPath? {
        switch self {
        case .started(let p), .failed(let p, _), .restarted(let p, _, _), .retrying(let p, _, _, _),
             .escalated(let p, _), .stopped(let p), .notStoppedInTime(let p, _): p
        case .deadLetter(let l): l.recipient
        case .systemTerminated: nil
        }
    }
}
