import ActorRuntimeTesting
@testable import Bridges
import Foundation
import Testing

/// A message the client can never put on the wire (a property over AMQP's 255-byte short string, a header
/// frame over `frame_max`) fails alone: the rest of its batch is confirmed, the connection stays, nothing
/// loops reconnecting.
@Suite struct UnpublishableMessageTests {
    @Test func aMessageTheClientCannotEncodeFailsAloneAndTheRestAreConfirmedOnTheSameConnection() async throws {
        let broker = TestBroker()
        defer { broker.cleanUp() }
        try broker.declare(topics: ["order.*"])
        let publisher = try AMQPPublisher(url: TestBroker.url, name: "unpublishable-test") { try broker.topology.declareExchange(on: $0) }
        let ex = broker.exchange
        let batch: [(exchange: String, routingKey: String, message: AMQPMessage)] = [
            (ex, "order.created", AMQPMessage(body: [1], messageID: "good-1", type: "order.created")),
            (ex, "order.created", AMQPMessage(body: [2], messageID: "bad-correlation", correlationID: String(repeating: "c", count: 300))),
            (ex, "order.created", AMQPMessage(body: [3], messageID: "good-2", type: "order.created")),
            (ex, "order.created", AMQPMessage(body: [4], messageID: "bad-frame", headers: ["x-big": .string(String(repeating: "h", count: 200_000))])),
            (ex, String(repeating: "k", count: 300), AMQPMessage(body: [5], messageID: "bad-routing-key")),
        ]
        let outcome = Outcome<Void>()
        Task {
            do { try await publisher.publish(batch); outcome.set(.success(())) } catch { outcome.set(.failure(error)) }
        }
        try await eventually("the publish to return", timeout: .seconds(15)) { outcome.value != nil }
        guard case .failure(let error)? = outcome.value else { Issue.record("a batch with unpublishable messages succeeded"); return }
        let rejection = try #require(error as? AMQPPublishRejection, "\(error)")
        #expect(rejection.reasons.keys.sorted() == [1, 3, 4])
        #expect(rejection.reasons[1]?.contains("correlation_id") == true, "\(rejection.reasons[1] ?? "")")
        #expect(rejection.reasons[3]?.contains("frame") == true, "\(rejection.reasons[3] ?? "")")
        #expect(rejection.reasons[4]?.contains("routing key") == true, "\(rejection.reasons[4] ?? "")")
        #expect(publisher.reconnects == 0, "an unpublishable message is not retried by reconnecting")
        #expect(publisher.confirmed == 2)

        // The good ones arrived, and the publisher goes on publishing.
        try await publisher.publish(exchange: ex, routingKey: "order.created", AMQPMessage(body: [6], messageID: "good-3"))
        let consumer = try AMQPConsumer(url: TestBroker.url, queue: WireTopology.queue(broker.component), prefetch: 10)
        var seen: [AMQPDelivery] = []
        while seen.count < 3 { seen += await consumer.next(max: 3) }
        for d in seen { consumer.ack(d) }
        #expect(seen.map(\.message.messageID) == ["good-1", "good-2", "good-3"])
        #expect(publisher.reconnects == 0)
        await consumer.close()
        await publisher.close()
    }

    /// A connection that fails right after it was made (here: every publish goes to an exchange that does
    /// not exist, and the broker closes the channel) is not remade at once, again and again: the delay
    /// doubles until a connection has lasted.
    @Test func reconnectsBackOffEvenWhenEachConnectionSucceedsAndFailsAtOnce() async throws {
        let publisher = try AMQPPublisher(url: TestBroker.url, name: "backoff-test")
        let outcome = Outcome<Void>()
        let start = ContinuousClock.now
        Task {
            do {
                try await publisher.publish(exchange: "troupe.test.missing-\(UUID().uuidString)", routingKey: "x", AMQPMessage(body: [1]))
                outcome.set(.success(()))
            } catch { outcome.set(.failure(error)) }
        }
        try await eventually("four reconnects") { publisher.reconnects >= 4 }
        let elapsed = ContinuousClock.now - start
        // 100 + 200 + 400 ms of backoff at least before the fourth reconnect; without backoff it takes milliseconds.
        #expect(elapsed >= .milliseconds(700), "four reconnects in \(elapsed)")
        await publisher.close()
        try await eventually("the waiting publish to fail at close") { outcome.value != nil }
        guard case .failure? = outcome.value else { Issue.record("a publish to a missing exchange succeeded"); return }
    }

    /// The same, while more publishes keep arriving: each wakes the publisher's thread, and must not cut its
    /// backoff short (under steady publishing that would reconnect at once, again and again).
    @Test func reconnectsBackOffWhilePublishesKeepArriving() async throws {
        let publisher = try AMQPPublisher(url: TestBroker.url, name: "backoff-busy-test")
        let exchange = "troupe.test.missing-\(UUID().uuidString)"
        let start = ContinuousClock.now
        let publishing = Task {
            while !Task.isCancelled {
                Task { try? await publisher.publish(exchange: exchange, routingKey: "x", AMQPMessage(body: [1])) }
                try? await Task.sleep(for: .milliseconds(5))
            }
        }
        try await withCleanup {
            try await eventually("four reconnects") { publisher.reconnects >= 4 }
            let elapsed = ContinuousClock.now - start
            #expect(elapsed >= .milliseconds(700), "four reconnects in \(elapsed)")
        } cleanup: {
            publishing.cancel()
            await publisher.close()                     // fails what is still queued
        }
    }
}
