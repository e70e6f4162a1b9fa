import ActorRuntime
import Synchronization

/// Lets supervision and circuit breakers govern a component's consumption. The consumer is paused
/// (`basic.cancel`: messages stay in the queue, nothing is dead-lettered) while
/// - a supervisor in the component's actor tree (at or under `tree`) has exceeded its restart intensity
///   and escalated, until the tree's root has been restarted; or
/// - any of `breakers` is open (checked every `interval`), until all are closed or half-open;
/// and resumed when both are well again. Each pause and resume is logged and counted by the consumer.
public final class ConsumptionGovernor: Sendable {
    private struct State {
        var treeDown = false
        var breakersOpen = false
        var paused = false
    }

    private let consumer: EnvelopeConsumer
    /// Subscribed at init, so no event between init and ``run()`` is missed.
    private let events: AsyncStream<SystemEvent>?
    private let tree: ActorPath?
    private let breakers: [CircuitBreaker]
    private let interval: Duration
    private let state = Mutex(State())

    public init(consumer: EnvelopeConsumer, system: ActorSystem? = nil, tree: ActorPath? = nil, breakers: [CircuitBreaker] = [],
                interval: Duration = .milliseconds(250)) {
        self.consumer = consumer
        self.events = tree == nil ? nil : system?.events.subscribe()
        self.tree = tree
        self.breakers = breakers
        self.interval = interval
    }

    /// Governs until the task is cancelled.
    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            if let events, let tree {
                group.addTask { [self] in
                    for await event in events {
                        switch event {
                        case .escalated(let p, _) where Self.isWithin(p, tree):
                            update { $0.treeDown = true }
                        case .restarted(let p, _, _) where p == tree, .started(let p) where p == tree:
                            update { $0.treeDown = false }
                        default:
                            continue
                        }
                    }
                }
            }
            if !breakers.isEmpty {
                group.addTask { [self] in
                    while !Task.isCancelled {
                        let open = breakers.contains { $0.isOpen }
                        update { $0.breakersOpen = open }
                        try? await Task.sleep(for: interval)
                    }
                }
            }
            await group.waitForAll()
        }
    }

    static func isWithin(_ path: ActorPath, _ root: ActorPath) -> Bool {
        path.segments.starts(with: root.segments)
    }

    private func update(_ change: (inout State) -> Void) {
        enum Action { case pause(String), resume, none }
        let action = state.withLock { s -> Action in
            change(&s)
            let unwell = s.treeDown || s.breakersOpen
            if unwell, !s.paused {
                s.paused = true
                return .pause(s.treeDown ? "\(tree.map { "\($0)" } ?? "actor tree") exceeded its restart intensity" : "a circuit breaker is open")
            }
            if !unwell, s.paused {
                s.paused = false
                return .resume
            }
            return .none
        }
        switch action {
        case .pause(let reason): consumer.pause(reason: reason)
        case .resume: consumer.resume()
        case .none: break
        }
    }
}
