import ActorRuntime

/// The brief's AMQP wire contract, declared on the broker: one durable topic exchange; per component a
/// durable queue `troupe.<component>` bound to its topics, retry queues that hold a failed message for
/// a delay and then dead-letter it back to the component's queue, and `troupe.<component>.dead`.
public struct WireTopology: Sendable {
    public enum QueueType: String, Sendable, Equatable, CaseIterable { case classic, quorum }

    public var exchange: String
    public var queueType: QueueType
    /// How long a dead letter is kept (the dead queue's message TTL).
    public var deadRetention: Duration
    /// Retry delays: attempt n (from 1) waits `retryDelays[n - 1]` in `troupe.<component>.retry.<n>`.
    public var retryDelays: [Duration]
    /// Quorum queues only: deliveries of one message (redeliveries after a crash or a requeue included)
    /// before the broker itself dead-letters it into `troupe.<component>.dead` (`x-delivery-limit`).
    public var deliveryLimit = 20

    public init(exchange: String = "troupe.events", queueType: QueueType = .classic, deadRetention: Duration = .seconds(14 * 24 * 3600),
                retry: RetryPolicy = RetryPolicy(maxAttempts: 5, initialDelay: .seconds(1), maxDelay: .seconds(60))) {
        self.exchange = exchange
        self.queueType = queueType
        self.deadRetention = deadRetention
        self.retryDelays = (1..<max(1, retry.maxAttempts)).map { retry.baseDelay(afterAttempt: $0) }
    }

    /// Deliveries a message gets in all: the first and one per retry delay.
    public var maxAttempts: Int { retryDelays.count + 1 }

    public static func queue(_ component: String) -> String { "troupe.\(component)" }
    public static func deadQueue(_ component: String) -> String { "troupe.\(component).dead" }
    public static func retryQueue(_ component: String, attempt: Int) -> String { "troupe.\(component).retry.\(attempt)" }

    /// Every queue of `component`: its queue, its retry queues, its dead queue.
    public func queues(of component: String) -> [String] {
        [Self.queue(component)] + retryDelays.indices.map { Self.retryQueue(component, attempt: $0 + 1) } + [Self.deadQueue(component)]
    }

    /// Declares the exchange (idempotent; every publisher does it on connect).
    public func declareExchange(on connection: AMQPConnection) throws(AMQPError) {
        try connection.declareExchange(exchange, type: "topic")
    }

    /// Declares the exchange and everything `component` consumes through, bound to `topics`
    /// (routing keys; `*` and `#` wildcards allowed).
    public func declare(component: String, topics: [String], on connection: AMQPConnection) throws(AMQPError) {
        try declareExchange(on: connection)
        let queue = Self.queue(component)
        var arguments: [String: AMQPValue] = ["x-queue-type": .string(queueType.rawValue)]
        if queueType == .quorum {
            // A quorum queue drops a message past its delivery limit unless it has somewhere to send it.
            arguments["x-delivery-limit"] = .int(Int64(deliveryLimit))
            arguments["x-dead-letter-exchange"] = .string("")
            arguments["x-dead-letter-routing-key"] = .string(Self.deadQueue(component))
        }
        try connection.declareQueue(queue, arguments: arguments)
        for topic in topics { try connection.bind(queue: queue, exchange: exchange, routingKey: topic) }
        for (i, delay) in retryDelays.enumerated() {
            try connection.declareQueue(Self.retryQueue(component, attempt: i + 1), arguments: [
                "x-queue-type": .string(queueType.rawValue),
                "x-message-ttl": .int(Int64(delay.inSeconds * 1000)),
                "x-dead-letter-exchange": .string(""),                 // the default exchange: straight back to
                "x-dead-letter-routing-key": .string(queue),            // this component's queue only
            ])
        }
        try connection.declareQueue(Self.deadQueue(component), arguments: [
            "x-queue-type": .string(queueType.rawValue),
            "x-message-ttl": .int(Int64(deadRetention.inSeconds * 1000)),
        ])
    }
}
