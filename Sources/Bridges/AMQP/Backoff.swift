/// Reconnect and restart delays: doubling from `initial` up to `maximum`. A connection resets them only
/// once it has lasted `stableAfter`: one that is lost right after it was made (the broker closes the
/// channel at the first publish, say) counts as a failed try, so reconnecting backs off instead of looping.
public struct Backoff: Sendable {
    public let initial: Duration
    public let maximum: Duration
    /// How long a connection must last for its loss to start the delays again from `initial`.
    public let stableAfter: Duration
    public private(set) var next: Duration
    private var connectedAt: ContinuousClock.Instant?

    public init(initial: Duration = .milliseconds(100), maximum: Duration = .seconds(5), stableAfter: Duration = .seconds(5)) {
        self.initial = initial
        self.maximum = maximum
        self.stableAfter = stableAfter
        next = initial
    }

    /// A try failed: the delay before the next one.
    public mutating func failed() -> Duration {
        defer { next = min(next * 2, maximum) }
        return next
    }

    public mutating func succeeded() { next = initial }

    /// A connection was made at `now`.
    public mutating func connected(at now: ContinuousClock.Instant) { connectedAt = now }

    /// The connection made last was lost at `now`: the delay before the next try, from `initial` again
    /// only if the connection had lasted ``stableAfter``.
    public mutating func lost(at now: ContinuousClock.Instant) -> Duration {
        if let connectedAt, now - connectedAt >= stableAfter { succeeded() }
        connectedAt = nil
        return failed()
    }
}
