/// A supervisor's bookkeeping for one child, in start order.
@usableFromInline
struct ChildRecord: Sendable {
    let handle: any SystemMessageTarget
    let restart: RestartType
    let backoff: RestartBackoff
    let shutdownTimeout: Duration
    /// Its stopping on its own may stop the supervisor (``SupervisorStrategy/autoShutdown``).
    let significant: Bool
    /// The parent asked it to stop (`context.stop(child)`): its end is not one on its own.
    var stopRequested = false
    var consecutiveRestarts = 0
    /// When the child runs again after its last restart (its crash plus the backoff).
    var runningSince: ContinuousClock.Instant?

    var id: ActorID { handle.id }
    var path: ActorPath { handle.path }

    @usableFromInline
    init<B>(handle: any SystemMessageTarget, props: Props<B>) {
        self.handle = handle
        self.restart = props.restart
        self.backoff = props.restartBackoff
        self.shutdownTimeout = props.shutdownTimeout
        self.significant = props.significant
    }

    /// The backoff before restarting this child after a failure at `now`. The count of consecutive
    /// restarts resets once the child has run `resetAfter` since it was last restarted (not since it
    /// last crashed: a long backoff is not time the child ran).
    mutating func nextRestartDelay(at now: ContinuousClock.Instant, unitRandom: Double = Double.random(in: 0..<1)) -> Duration {
        if let since = runningSince, now - since > backoff.resetAfter { consecutiveRestarts = 0 }
        consecutiveRestarts += 1
        let delay = backoff.delay(consecutive: consecutiveRestarts, unitRandom: unitRandom)
        runningSince = now + delay
        return delay
    }
}
