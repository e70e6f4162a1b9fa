import ActorRuntime
import Bridges

/// A hosted component's supervisor, `/user/<component>`: starts its instances (`/user/<component>/<n>`)
/// and restarts one that crashes, after a backoff (250 ms doubling to 5 s), one-for-one. More than
/// `maxRestarts` within `window` and it fails in turn, to the node's guardian, which restarts the whole
/// component; when the guardian gives up, the node exits non-zero and `troupe up` restarts it.
final class ComponentSupervisor: ActorBehavior {
    enum Message: Sendable {}

    static let maxRestarts = 5
    static let window: Duration = .seconds(60)
    static let backoff = RestartBackoff.exponential(initial: .milliseconds(250), maximum: .seconds(5))

    private let instances: Int
    private let stats: NodeStats
    private let make: @Sendable () throws -> EnvelopeConsumer

    init(instances: Int, stats: NodeStats, make: @escaping @Sendable () throws -> EnvelopeConsumer) {
        self.instances = instances
        self.stats = stats
        self.make = make
    }

    static func props(instances: Int, stats: NodeStats, make: @escaping @Sendable () throws -> EnvelopeConsumer) -> Props<ComponentSupervisor> {
        Props(supervision: .oneForOne(maxRestarts: maxRestarts, within: window)) { ComponentSupervisor(instances: instances, stats: stats, make: make) }
    }

    func preStart(context: ActorContext<Message>) async throws {
        let stats = self.stats, make = self.make
        for n in 1...instances {
            _ = try context.spawn(Props(mailboxCapacity: 4, restartBackoff: Self.backoff) { ComponentInstance(stats: stats, make: make) },
                                  name: "\(n)")
        }
    }

    func receive(_ message: Message, context: ActorContext<Message>) async throws {}
}
