@testable import Bridges
import Foundation
import Testing

@Suite struct AMQPRoundTripTests {
    @Test func publishedMessagesArriveWithTheirPropertiesAndAcksEmptyTheQueue() async throws {
        let broker = TestBroker()
        defer { broker.cleanUp() }
        try broker.declare(topics: ["order.*"])
        let publisher = try AMQPPublisher(url: TestBroker.url) { try broker.topology.declareExchange(on: $0) }
        let total = 500
        let messages = (0..<total).map { i in
            (exchange: broker.exchange, routingKey: i % 2 == 0 ? "order.created" : "order.paid",
             message: AMQPMessage(body: Array("{\"n\":\(i)}".utf8), messageID: "id-\(i)", correlationID: "req-\(i)",
                                  type: "order.created", headers: ["x-attempts": .int(1), "x-note": .string("n\(i)")]))
        }
        try await publisher.publish(messages)
        #expect(publisher.confirmed == total)
        // A topic nobody binds is confirmed too, and goes nowhere.
        try await publisher.publish(exchange: broker.exchange, routingKey: "user.created", AMQPMessage(body: [1]))

        let consumer = try AMQPConsumer(url: TestBroker.url, queue: WireTopology.queue(broker.component), prefetch: 50)
        var seen: [AMQPDelivery] = []
        while seen.count < total {
            let batch = await consumer.next(max: 100)
            #expect(batch.count <= 50, "never more than the prefetch unacked")
            seen += batch
            if let last = batch.last { consumer.ack(last, multiple: true) }
        }
        #expect(seen.map { String(decoding: $0.message.body, as: UTF8.self) } == (0..<total).map { "{\"n\":\($0)}" })
        let first = seen[0].message
        #expect(first.messageID == "id-0")
        #expect(first.correlationID == "req-0")
        #expect(first.contentType == "application/json")
        #expect(first.deliveryMode == 2)
        #expect(first.headers == ["x-attempts": .int(1), "x-note": .string("n0")])
        await consumer.close()
        await publisher.close()
        #expect(try broker.count(WireTopology.queue(broker.component)) == 0)
    }
}
