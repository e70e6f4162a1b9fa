/// A supervisor's bookkeeping for one child, in start order.
struct ChildRecord: Sendable {
    let handle: any SystemMessageTarget
    let restart: RestartType
    let backoff: RestartBackoff
    var consecutiveRestarts = 0
    var lastFailure: ContinuousClock.Instant?

    var id: ActorID { handle.id }
    var path: ActorPath { handle.path }

    init(handle: any SystemMessageTarget, restart: RestartType, backoff: RestartBackoff) {
        self.handle = handle
        self.restart = restart
        self.backoff = backoff
    }

    /// The backoff before restarting this child after a failure at `now`.
    mutating func nextRestartDelay(at now: ContinuousClock.Instant) -> Duration {
        if let last = lastFailure, now - last > backoff.resetAfter { consecutiveRestarts = 0 }
        lastFailure = now
        consecutiveRestarts += 1
        return backoff.delay(consecutive: consecutiveRestarts)
    }
}
