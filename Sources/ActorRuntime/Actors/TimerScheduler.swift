/// One-shot and recurring timers of one actor, keyed by name. Starting a timer with a key replaces the
/// previous one; all are cancelled when the actor stops or restarts, and a timer cancelled after it
/// fired but before its message was handled delivers nothing (each start has its own generation).
public final class TimerScheduler<Message: Sendable> {
    private struct Entry {
        let generation: UInt64
        let message: Message
        let recurring: Bool
        let task: Task<Void, Never>
    }

    private var entries: [String: Entry] = [:]
    private var generation: UInt64 = 0
    private let target: any SystemMessageTarget

    init(target: any SystemMessageTarget) { self.target = target }

    /// Delivers `message` to this actor once, after `delay`.
    public func startSingle(key: String, message: Message, delay: Duration) {
        start(key: key, message: message, recurring: false) { [target] gen in
            try? await Task.sleep(for: delay)
            guard !Task.isCancelled else { return }
            target.sendSystem(.timerFired(key: key, generation: gen))
        }
    }

    /// Delivers `message` to this actor every `interval` (the first after one interval).
    public func startPeriodic(key: String, message: Message, interval: Duration) {
        precondition(interval > .zero, "a periodic timer needs a positive interval")
        start(key: key, message: message, recurring: true) { [target] gen in
            let clock = ContinuousClock()
            var next = clock.now + interval
            while !Task.isCancelled {
                try? await Task.sleep(until: next, clock: clock)
                guard !Task.isCancelled, target.sendSystem(.timerFired(key: key, generation: gen)) else { return }
                next += interval
                if next < clock.now { next = clock.now + interval }   // we fell behind: do not burst
            }
        }
    }

    /// Whether a timer with `key` is pending.
    public func isActive(_ key: String) -> Bool { entries[key] != nil }

    /// Cancels the timer with `key`, if any.
    public func cancel(_ key: String) {
        entries.removeValue(forKey: key)?.task.cancel()
    }

    /// Cancels every timer.
    public func cancelAll() {
        for e in entries.values { e.task.cancel() }
        entries.removeAll()
    }

    private func start(key: String, message: Message, recurring: Bool,
                       _ body: @escaping @Sendable (UInt64) async -> Void) {
        cancel(key)
        generation &+= 1
        let gen = generation
        entries[key] = Entry(generation: gen, message: message, recurring: recurring, task: Task.detached { await body(gen) })
    }

    /// The message of a fired timer if it is still current; a one-shot timer is then forgotten.
    func fired(key: String, generation: UInt64) -> Message? {
        guard let e = entries[key], e.generation == generation else { return nil }
        if !e.recurring { entries.removeValue(forKey: key) }
        return e.message
    }
}
