import Synchronization

/// A FIFO whose consumer awaits the next element with a deadline. The test kit's building block (not part of
/// the kit's public API; `package` for Troupe's own tests).
package final class AwaitableQueue<Element: Sendable>: Sendable {
    private struct Waiter {
        let id: Int
        let continuation: UnsafeContinuation<Element?, Never>
    }

    private struct State {
        var items: [Element] = []
        var waiters: [Waiter] = []
        var nextID = 0
    }

    private let state = Mutex(State())

    package init() {}

    /// Adds an element, handing it to a waiting consumer if there is one.
    package func append(_ element: Element) {
        let waiter = state.withLock { s -> Waiter? in
            if !s.waiters.isEmpty { return s.waiters.removeFirst() }
            s.items.append(element)
            return nil
        }
        waiter?.continuation.resume(returning: element)
    }

    /// The next element, or nil if none arrives within `timeout`.
    package func next(within timeout: Duration) async -> Element? {
        let id = state.withLock { s -> Int in s.nextID += 1; return s.nextID }
        let timer = Task {
            try? await Task.sleep(for: timeout)
            guard !Task.isCancelled else { return }
            let waiter = state.withLock { s -> Waiter? in
                guard let i = s.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return s.waiters.remove(at: i)
            }
            waiter?.continuation.resume(returning: nil)
        }
        defer { timer.cancel() }
        return await withUnsafeContinuation { (c: UnsafeContinuation<Element?, Never>) in
            let ready = state.withLock { s -> Element?? in
                if !s.items.isEmpty { return .some(s.items.removeFirst()) }
                s.waiters.append(Waiter(id: id, continuation: c))
                return .none
            }
            if case .some(let element) = ready { c.resume(returning: element) }
        }
    }

    /// Everything queued now, without waiting.
    package func drain() -> [Element] {
        state.withLock { s in
            let items = s.items
            s.items = []
            return items
        }
    }
}
