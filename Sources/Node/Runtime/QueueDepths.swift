import Bridges
import Domain

/// Each component's queue and dead-letter queue depth, read from the broker on a dedicated thread (the
/// AMQP calls block). Read by `/metrics` and the admin alerts.
enum QueueDepths {
    struct Depth: Sendable {
        let component: String
        /// nil: the queue could not be read.
        let ready: Int?
        let dead: Int?
    }

    /// Every component's depths; nil when the broker cannot be reached.
    static func read(amqpURL url: String) async -> [Depth]? {
        try? await DedicatedThread.run("troupe.queue-depths") { () -> [Depth] in
            // A queue not declared yet (its component never ran) closes the channel (404): a new connection
            // for the next one, since a call on a closed channel would wait for an answer that never comes.
            let address = try AMQPURL(url)
            var c = try AMQPConnection(url: address)
            func count(_ queue: String) -> Int? {
                if !c.isOpen, let fresh = try? AMQPConnection(url: address) { c = fresh }
                return try? c.messageCount(queue)
            }
            return Component.allCases.map { comp in Depth(component: comp.rawValue, ready: count(comp.queueName), dead: count(comp.deadQueueName)) }
        }
    }
}
