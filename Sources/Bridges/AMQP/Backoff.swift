/// Reconnect delays: doubling from `initial` up to `maximum`, back to `initial` after a success.
struct Backoff {
    let initial: Duration
    let maximum: Duration
    private(set) var next: Duration

    init(initial: Duration = .milliseconds(100), maximum: Duration = .seconds(5)) {
        self.initial = initial
        self.maximum = maximum
        next = initial
    }

    mutating func failed() -> Duration {
        defer { next = min(next * 2, maximum) }
        return next
    }

    mutating func succeeded() { next = initial }
}
