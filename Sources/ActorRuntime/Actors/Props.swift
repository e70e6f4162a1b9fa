/// Everything needed to start (and restart) an actor: a factory for fresh instances, its mailbox
/// capacity, how it supervises its own children, whether it is restarted, and its message failure policy.
public struct Props<Behavior: ActorBehavior>: Sendable {
    /// Makes a fresh instance; called at start and on every restart.
    public var factory: @Sendable () -> Behavior
    /// Bounded mailbox size; senders suspend beyond it. Default 1024.
    public var mailboxCapacity: Int
    /// How long another actor's handler waits for room in this full mailbox before its message becomes a
    /// dead letter (Akka's mailbox push timeout), so that actors telling each other in a cycle cannot wait
    /// for ever. Senders outside handlers wait for room however long it takes; this actor's own handler is
    /// admitted at once. Nil: handlers wait too. Default 10 s.
    public var mailboxPushTimeout: Duration?
    /// How this actor supervises its children. Default: OTP's one-for-one, 1 restart in 5 s.
    public var supervision: SupervisorStrategy
    /// When this actor is restarted (OTP's restart types): `permanent` whenever it ends on its own, a stop of
    /// its own included; `transient` after a crash only; `temporary` never. Default: permanent (OTP's default).
    public var restart: RestartType
    /// Delay before this actor is restarted. Default: none (OTP's behaviour).
    public var restartBackoff: RestartBackoff
    /// How long its parent waits for it to stop (OTP's child `shutdown`): past it, the parent gives up on it,
    /// closes its mailbox (what is queued becomes dead letters), reports it and goes on stopping the rest.
    /// Default 5 s; give a supervisor of slow children the sum of theirs (OTP uses `infinity` for supervisors).
    public var shutdownTimeout: Duration
    /// How handler errors are classified and retried. Default: ``FailurePolicy/default``.
    public var failurePolicy: FailurePolicy {
        get { customFailurePolicy?.policy ?? .default }
        set { customFailurePolicy = FailurePolicyBox(newValue) }
    }
    /// Nil for the default policy: an actor with it keeps a nil instead of the whole policy.
    private(set) var customFailurePolicy: FailurePolicyBox?
    /// OTP's significant child: when it stops on its own (not stopped by its parent), its supervisor may stop
    /// too, as its ``SupervisorStrategy/autoShutdown`` says. Only for `transient` or `temporary` actors (a
    /// permanent one never stops on its own); spawning a significant permanent actor throws. Default false.
    public var significant: Bool

    public init(mailboxCapacity: Int = 1024, mailboxPushTimeout: Duration? = .seconds(10), supervision: SupervisorStrategy = SupervisorStrategy(),
                restart: RestartType = .permanent, restartBackoff: RestartBackoff = .none,
                shutdownTimeout: Duration = .seconds(5), failurePolicy: FailurePolicy? = nil, significant: Bool = false,
                _ factory: @escaping @Sendable () -> Behavior) {
        self.factory = factory
        self.mailboxCapacity = mailboxCapacity
        self.mailboxPushTimeout = mailboxPushTimeout
        self.supervision = supervision
        self.restart = restart
        self.restartBackoff = restartBackoff
        self.shutdownTimeout = shutdownTimeout
        self.customFailurePolicy = failurePolicy.map(FailurePolicyBox.init)
        self.significant = significant
    }
}

/// A failure policy other than the default, shared by the actors spawned from one ``Props`` value.
final class FailurePolicyBox: Sendable {
    let policy: FailurePolicy
    init(_ policy: FailurePolicy) { self.policy = policy }
}
