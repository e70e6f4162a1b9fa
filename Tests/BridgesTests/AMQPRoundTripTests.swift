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

    /// Property strings and headers are copied into memory the connection reuses: a message needing more
    /// than it holds (long strings, many headers, non-ASCII) must still arrive whole, and so must a small
    /// one after it.
    @Test func largeAndManyPropertiesArriveWhole() async throws {
        let broker = TestBroker()
        defer { broker.cleanUp() }
        try broker.declare(topics: ["order.*"])
        let publisher = try AMQPPublisher(url: TestBroker.url) { try broker.topology.declareExchange(on: $0) }
        var headers: [String: AMQPValue] = [:]
        for i in 0..<40 { headers["x-h\(i)"] = i % 2 == 0 ? .int(Int64(i)) : .string(String(repeating: "é", count: 100 + i)) }
        let big = AMQPMessage(body: [1], messageID: String(repeating: "m", count: 200), correlationID: "ü-" + String(repeating: "c", count: 250),
                              type: "order.created", headers: headers)
        let small = AMQPMessage(body: [2], messageID: "small", headers: ["x-attempts": .int(3)])
        try await publisher.publish([(broker.exchange, "order.created", big), (broker.exchange, "order.created", small)])

        let consumer = try AMQPConsumer(url: TestBroker.url, queue: WireTopology.queue(broker.component), prefetch: 10)
        var seen: [AMQPDelivery] = []
        while seen.count < 2 { seen += await consumer.next(max: 2) }
        for d in seen { consumer.ack(d) }
        #expect(seen[0].message.messageID == big.messageID)
        #expect(seen[0].message.correlationID == big.correlationID)
        #expect(seen[0].message.headers == headers)
        #expect(seen[1].message.messageID == "small")
        #expect(seen[1].message.headers == ["x-attempts": .int(3)])
        await consumer.close()
        await publisher.close()
    }
}
