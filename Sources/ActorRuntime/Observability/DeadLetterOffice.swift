import Logging
import Metrics
import Synchronization

/// The dead-letter sink of one actor system: counts, logs and announces every dead letter on the
/// system's event stream (where a bridge can forward them, e.g. to an AMQP dead queue).
public final class DeadLetterOffice: Sendable {
    private let counter = Atomic<Int>(0)
    private let logger: Logger
    private let events: EventStream
    private let metric: Counter

    init(logger: Logger, events: EventStream, systemName: String) {
        self.logger = logger
        self.events = events
        self.metric = Counter(label: "troupe_dead_letters_total", dimensions: [("system", systemName)])
    }

    /// How many dead letters this system has had.
    public var count: Int { counter.load(ordering: .relaxed) }

    /// Records a dead letter.
    public func publish(_ letter: DeadLetter) {
        counter.add(1, ordering: .relaxed)
        metric.increment()
        logger.info("dead letter", metadata: [
            LogKey.actorPath: "\(letter.recipient)",
            LogKey.reason: "\(letter.reason)",
            LogKey.attempts: "\(letter.attempts)",
            LogKey.messageType: "\(type(of: letter.message))",
        ])
        events.publish(.deadLetter(letter))
    }
}
