import ActorRuntime
import Bridges
import Synchronization

/// One instance of a component on a node, as an actor: it owns a consumer of the component's queue,
/// started in `preStart` and closed (in-flight batches settled, the rest handed back to the broker)
/// when it stops or is restarted. A consumer that cannot be made, or whose run loop ends while the node
/// runs, is a crash, which its ``ComponentSupervisor`` answers with a restart after a backoff, as an
/// Erlang/OTP worker would be. (A lost broker is not one: the consumer reconnects by itself.)
final class ComponentInstance: ActorBehavior {
    enum Message: Sendable {
        /// The consumer's run loop returned without being asked to.
        case consumerEnded
    }

    struct ConsumerEnded: Error, CustomStringConvertible {
        var description: String { "the consumer stopped consuming" }
    }

    private let make: @Sendable () throws -> EnvelopeConsumer
    private let stats: NodeStats
    private var consumer: EnvelopeConsumer?
    private var running: Task<Void, Never>?
    /// Set before the consumer is closed on purpose, so its run loop's end is not taken for a crash.
    private final class Closing: Sendable {
        let flag = Atomic<Bool>(false)
    }
    private let closing = Closing()

    init(stats: NodeStats, make: @escaping @Sendable () throws -> EnvelopeConsumer) {
        self.stats = stats
        self.make = make
    }

    func preStart(context: ActorContext<Message>) async throws {
        let consumer = try make()
        self.consumer = consumer
        stats.attach(consumer, at: context.path)
        let me = context.myself, closing = self.closing, name = "\(consumer.configuration.component) consumer \(context.path)"
        running = Task {
            await ShutdownWatchdog.shared.tracking(name) { await consumer.run() }
            if !closing.flag.load(ordering: .acquiring) { await me.tell(.consumerEnded) }
        }
    }

    func receive(_ message: Message, context: ActorContext<Message>) async throws {
        switch message {
        case .consumerEnded: throw ConsumerEnded()
        }
    }

    func preRestart(reason: any Error, context: ActorContext<Message>) async { await close(context) }

    func postStop(context: ActorContext<Message>) async { await close(context) }

    private func close(_ context: ActorContext<Message>) async {
        closing.flag.store(true, ordering: .releasing)
        if let consumer { await consumer.close() }
        await running?.value
        stats.detach(at: context.path)
        consumer = nil
        running = nil
    }
}
