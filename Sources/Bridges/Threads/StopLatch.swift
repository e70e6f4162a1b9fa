import Synchronization

/// Tells waiters that something has finished (a dedicated thread, a run loop): `wait()` returns once
/// `open()` was called, at once if it already was.
final class StopLatch: Sendable {
    private struct State {
        var open = false
        var nextID: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Bool, Never>] = [:]
    }
    private let state = Mutex(State())

    func open() {
        let waiters = state.withLock { s -> [CheckedContinuation<Bool, Never>] in
            s.open = true
            defer { s.waiters = [:] }
            return Array(s.waiters.values)
        }
        for w in waiters { w.resume(returning: true) }
    }

    var isOpen: Bool { state.withLock { $0.open } }

    func wait() async {
        _ = await wait(timeout: nil)
    }

    /// Waits until it opens, or `timeout` passed; returns whether it opened.
    func wait(timeout: Duration?) async -> Bool {
        await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
            let id = state.withLock { s -> UInt64? in
                if s.open { return nil }
                s.nextID += 1
                s.waiters[s.nextID] = c
                return s.nextID
            }
            guard let id else { return c.resume(returning: true) }
            guard let timeout else { return }
            Task {
                try? await Task.sleep(for: timeout)
                let waiter = self.state.withLock { $0.waiters.removeValue(forKey: id) }
                waiter?.resume(returning: false)
            }
        }
    }
}
