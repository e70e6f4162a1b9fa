/// "At most `maxRestarts` restarts within `within`": OTP's restart intensity and period.
///
/// A pure value type: the supervisor feeds it the instant of each restart it is about to make, so
/// the window logic is tested without time passing.
public struct RestartIntensity: Sendable, Hashable {
    public var maxRestarts: Int
    public var within: Duration

    public init(maxRestarts: Int = 1, within: Duration = .seconds(5)) {
        precondition(maxRestarts >= 0, "maxRestarts must not be negative")
        self.maxRestarts = maxRestarts
        self.within = within
    }
}

/// The restarts a supervisor made within the current window (internal to the runtime; `package` for its tests).
package struct RestartWindow: Sendable {
    package let intensity: RestartIntensity
    private var instants: [ContinuousClock.Instant] = []

    package init(_ intensity: RestartIntensity) { self.intensity = intensity }

    /// Records a restart at `now`; false when it would exceed the intensity (the supervisor escalates).
    package mutating func allowRestart(at now: ContinuousClock.Instant) -> Bool {
        instants.removeAll { now - $0 > intensity.within }
        guard instants.count < intensity.maxRestarts else { return false }
        instants.append(now)
        return true
    }

    /// Restarts counted in the current window.
    package var count: Int { instants.count }
}
