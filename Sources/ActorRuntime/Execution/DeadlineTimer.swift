import Foundation

/// One thread that fires callbacks at deadlines: ask and push timeouts. Unlike a task sleeping per deadline,
/// an entry cancelled early costs nothing afterwards (a sleeping task's timer lingers until it expires).
final class DeadlineTimer: @unchecked Sendable {
    static let shared = DeadlineTimer()

    typealias Token = UInt64

    private struct Entry {
        let deadline: ContinuousClock.Instant
        let fire: @Sendable () -> Void
    }

    // All guarded by `condition`.
    private let condition = NSCondition()
    private var entries: [Token: Entry] = [:]
    private var heap: [(deadline: ContinuousClock.Instant, token: Token)] = []    // min-heap, may hold cancelled tokens
    private var nextToken: Token = 0

    private init() {
        let thread = Thread { [unowned self] in self.run() }
        thread.name = "troupe.deadlines"
        thread.start()
    }

    /// Calls `fire` once `delay` has passed, unless cancelled first.
    func schedule(after delay: Duration, _ fire: @escaping @Sendable () -> Void) -> Token {
        schedule(at: ContinuousClock.now + delay, fire)
    }

    /// Calls `fire` at `deadline` (at once if it has passed), unless cancelled first.
    func schedule(at deadline: ContinuousClock.Instant, _ fire: @escaping @Sendable () -> Void) -> Token {
        condition.lock()
        nextToken &+= 1
        let token = nextToken
        entries[token] = Entry(deadline: deadline, fire: fire)
        push((deadline, token))
        let earliest = heap[0].token == token
        if heap.count > 2 * entries.count + 1024 { compact() }
        condition.unlock()
        if earliest { condition.signal() }
        return token
    }

    /// Forgets a deadline (no effect if it already fired).
    func cancel(_ token: Token) {
        condition.lock()
        entries.removeValue(forKey: token)
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            var due: [@Sendable () -> Void] = []
            let now = ContinuousClock.now
            while let top = heap.first, top.deadline <= now || entries[top.token] == nil {
                pop()
                if let entry = entries.removeValue(forKey: top.token) { due.append(entry.fire) }
            }
            if due.isEmpty {
                if let top = heap.first {
                    _ = condition.wait(until: Date(timeIntervalSinceNow: (top.deadline - now).inSeconds))
                } else {
                    condition.wait()
                }
            }
            condition.unlock()
            for fire in due { fire() }
        }
    }

    /// Rebuilds the heap from live entries when cancelled ones dominate it.
    private func compact() {
        heap = entries.map { ($0.value.deadline, $0.key) }
        for i in stride(from: heap.count / 2 - 1, through: 0, by: -1) { siftDown(i) }
    }

    private func push(_ item: (deadline: ContinuousClock.Instant, token: Token)) {
        heap.append(item)
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard heap[i].deadline < heap[parent].deadline else { break }
            heap.swapAt(i, parent)
            i = parent
        }
    }

    private func pop() {
        heap.swapAt(0, heap.count - 1)
        heap.removeLast()
        if !heap.isEmpty { siftDown(0) }
    }

    private func siftDown(_ start: Int) {
        var i = start
        while true {
            let l = 2 * i + 1, r = l + 1
            var smallest = i
            if l < heap.count, heap[l].deadline < heap[smallest].deadline { smallest = l }
            if r < heap.count, heap[r].deadline < heap[smallest].deadline { smallest = r }
            guard smallest != i else { return }
            heap.swapAt(i, smallest)
            i = smallest
        }
    }
}
