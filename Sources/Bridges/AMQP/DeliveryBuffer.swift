import DequeModule
import Synchronization

/// Hands deliveries from a consumer thread to one async reader, in batches.
final class DeliveryBuffer: Sendable {
    private struct State {
        var items = Deque<AMQPDelivery>()
        var waiter: (max: Int, continuation: CheckedContinuation<[AMQPDelivery], Never>)?
        var finished = false
    }

    private let state = Mutex(State())

    /// Deliveries received and not taken yet.
    var count: Int { state.withLock { $0.items.count } }

    func push(_ delivery: AMQPDelivery) {
        let resume = state.withLock { s -> (CheckedContinuation<[AMQPDelivery], Never>, [AMQPDelivery])? in
            s.items.append(delivery)
            guard let w = s.waiter else { return nil }
            s.waiter = nil
            return (w.continuation, Self.pop(&s.items, w.max))
        }
        if let (c, items) = resume { c.resume(returning: items) }
    }

    func finish() {
        let waiter = state.withLock { s -> CheckedContinuation<[AMQPDelivery], Never>? in
            s.finished = true
            defer { s.waiter = nil }
            return s.waiter?.continuation
        }
        waiter?.resume(returning: [])
    }

    /// Up to `max` deliveries, waiting for the first; empty when finished.
    func take(max: Int) async -> [AMQPDelivery] {
        await withCheckedContinuation { (c: CheckedContinuation<[AMQPDelivery], Never>) in
            let ready = state.withLock { s -> [AMQPDelivery]? in
                if !s.items.isEmpty { return Self.pop(&s.items, max) }
                if s.finished { return [] }
                s.waiter = (max, c)
                return nil
            }
            if let ready { c.resume(returning: ready) }
        }
    }

    private static func pop(_ items: inout Deque<AMQPDelivery>, _ max: Int) -> [AMQPDelivery] {
        let n = min(max, items.count)
        defer { items.removeFirst(n) }
        return Array(items.prefix(n))
    }
}
