/// Everything needed to start (and restart) an actor: a factory for fresh instances, its mailbox
/// capacity, how it supervises its own children, whether it is restarted, and its message failure policy.
public struct Props<Behavior: ActorBehavior>: Sendable {
    /// Makes a fresh instance; called at start and on every restart.
    public var factory: @Sendable () -> Behavior
    /// Bounded mailbox size; senders suspend beyond it. Default 1024.
    public var mailboxCapacity: Int
    /// How this actor supervises its children. Default: OTP's one-for-one, 1 restart in 5 s.
    public var supervision: SupervisorStrategy
    /// Whether this actor is restarted after a crash. Default: permanent (OTP's default).
    public var restart: RestartType
    /// Delay before this actor is restarted. Default: none (OTP's behaviour).
    public var restartBackoff: RestartBackoff
    /// How handler errors are classified and retried.
    public var failurePolicy: FailurePolicy

    public init(mailboxCapacity: Int = 1024, supervision: SupervisorStrategy = SupervisorStrategy(),
                restart: RestartType = .permanent, restartBackoff: RestartBackoff = .none,
                failurePolicy: FailurePolicy = .default, _ factory: @escaping @Sendable () -> Behavior) {
        self.factory = factory
        self.mailboxCapacity = mailboxCapacity
        self.supervision = supervision
        self.restart = restart
        self.restartBackoff = restartBackoff
        self.failurePolicy = failurePolicy
    }
}
