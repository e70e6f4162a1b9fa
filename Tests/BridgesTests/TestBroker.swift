@testable import Bridges
import Foundation

/// The project's RabbitMQ (TROUPE_AMQP_URL) and a component name of this test's own, so tests never
/// share queues.
struct TestBroker {
    static let url = ProcessInfo.processInfo.environment["TROUPE_AMQP_URL"] ?? "amqp://guest:guest@127.0.0.1:5679/%2F"

    let component = "test-" + UUID().uuidString.prefix(8).lowercased()
    let topology: WireTopology
    let exchange: String

    init(retryDelays: [Duration] = [.milliseconds(50), .milliseconds(100)], queueType: WireTopology.QueueType = .classic,
         deliveryLimit: Int = 20) {
        exchange = "troupe.test.\(component)"
        var t = WireTopology(exchange: exchange, queueType: queueType)
        t.retryDelays = retryDelays
        t.deliveryLimit = deliveryLimit
        topology = t
    }

    func connection() throws -> AMQPConnection { try AMQPConnection(url: AMQPURL(Self.url)) }

    /// Declares this test's component consuming `topics`.
    func declare(topics: [String]) throws {
        try topology.declare(component: component, topics: topics, on: connection())
    }

    func count(_ queue: String) throws -> Int { try connection().messageCount(queue) }

    /// Deletes this test's queues and exchange.
    func cleanUp() {
        guard let c = try? connection() else { return }
        for q in topology.queues(of: component) { try? c.deleteQueue(q) }
    }
}
