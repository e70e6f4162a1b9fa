import Synchronization

/// Broadcasts ``SystemEvent``s to subscribers. Publishing with no subscriber costs one atomic load.
public final class EventStream: Sendable {
    private let subscribers = Mutex<[Int: AsyncStream<SystemEvent>.Continuation]>([:])
    private let count = Atomic<Int>(0)
    private let nextID = Atomic<Int>(0)

    init() {}

    /// A stream of every event published from now on (unbounded buffer: drain it).
    public func subscribe() -> AsyncStream<SystemEvent> {
        let (stream, continuation) = AsyncStream<SystemEvent>.makeStream()
        let id = nextID.wrappingAdd(1, ordering: .relaxed).newValue
        subscribers.withLock { $0[id] = continuation }
        count.add(1, ordering: .relaxed)
        continuation.onTermination = { [weak self] _ in
            guard let self else { return }
            if self.subscribers.withLock({ $0.removeValue(forKey: id) }) != nil { self.count.subtract(1, ordering: .relaxed) }
        }
        return stream
    }

    func publish(_ event: SystemEvent) {
        guard count.load(ordering: .relaxed) > 0 else { return }
        for c in subscribers.withLock({ Array($0.values) }) { c.yield(event) }
    }

    func finish() {
        for c in subscribers.withLock({ Array($0.values) }) { c.finish() }
    }
}
