/// A supervisor's bookkeeping for one child, in start order. Kept small (one per actor): the restart
/// history lives in a box of its own, made only for a child with a restart backoff.
@usableFromInline
struct ChildRecord: Sendable {
    let handle: any SystemMessageTarget
    let restart: RestartType
    let shutdownTimeout: Duration
    /// Its stopping on its own may stop the supervisor (``SupervisorStrategy/autoShutdown``).
    let significant: Bool
    /// The parent asked it to stop (`context.stop(child)`): its end is not one on its own.
    var stopRequested = false
    /// Nil for a child restarted at once (``RestartBackoff/none``, OTP's behaviour).
    private let history: RestartHistory?

    var id: ActorID { handle.id }
    var path: ActorPath { handle.path }

    @usableFromInline
    init<B>(handle: any SystemMessageTarget, props: Props<B>) {
        self.handle = handle
        self.restart = props.restart
        self.shutdownTimeout = props.shutdownTimeout
        self.significant = props.significant
        self.history = props.restartBackoff.initial > .zero ? RestartHistory(props.restartBackoff) : nil
    }

    /// The backoff before restarting this child after a failure at `now`. The count of consecutive
    /// restarts resets once the child has run `resetAfter` since it was last restarted (not since it
    /// last crashed: a long backoff is not time the child ran).
    func nextRestartDelay(at now: ContinuousClock.Instant, unitRandom: Double = Double.random(in: 0..<1)) -> Duration {
        guard let history else { return .zero }
        if let since = history.runningSince, now - since > history.backoff.resetAfter { history.consecutiveRestarts = 0 }
        history.consecutiveRestarts += 1
        let delay = history.backoff.delay(consecutive: history.consecutiveRestarts, unitRandom: unitRandom)
        history.runningSince = now + delay
        return delay
    }
}

/// A child's restarts in a row, for its backoff. Touched only by the supervisor's cell.
final class RestartHistory: @unchecked Sendable {
    let backoff: RestartBackoff
    var consecutiveRestarts = 0
    /// When the child runs again after its last restart (its crash plus the backoff).
    var runningSince: ContinuousClock.Instant?

    init(_ backoff: RestartBackoff) { self.backoff = backoff }
}
