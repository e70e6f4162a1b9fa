import ActorRuntime
import ActorRuntimeTesting
@testable import Bridges
import Foundation
import Testing

/// Issue 16 §5: a graceful stop drains, a quorum queue's delivery limit dead-letters, a replay takes a
/// snapshot. Against the real broker and database.
@Suite struct DeliverySettlementTests {
    /// A consumer closed under steady load stops taking deliveries, lets its in-flight batches commit and
    /// ack, then closes: a consumer taking over after it is redelivered nothing the first had committed.
    @Test func closingUnderLoadSettlesWhatIsInFlightSoNothingCommittedComesBack() async throws {
        let f = try await ConsumerFixture(batchSize: 16)
        let envelopes = (0..<1500).map { orderEnvelope(n: $0) }
        let publishing = Task {
            for chunk in stride(from: 0, to: envelopes.count, by: 50) {
                try await f.publish(Array(envelopes[chunk..<min(chunk + 50, envelopes.count)]))
            }
        }
        try await eventually("the first consumer busy") { f.consumer.stats.handled >= 200 }
        await f.consumer.close()                                     // mid-stream, batches in flight
        await f.running.value
        let handledByFirst = f.consumer.stats.handled
        try await publishing.value

        let second = try EnvelopeConsumer(.init(component: f.broker.component, topics: ["order.*"], prefetch: 100, batchSize: 16,
                                                topology: f.broker.topology),
                                          amqpURL: TestBroker.url, pool: f.pool, publisher: f.publisher, handler: ConsumerFixture.recordEffect)
        let running = Task { await second.run() }
        try await eventually("every envelope handled") { try await f.effectCount() == envelopes.count }
        // A batch's counters move after its acks, a moment after its commit: stop the second consumer the same
        // graceful way, so its figures are final.
        try await eventually("the second consumer's batches settled") { handledByFirst + second.stats.handled == envelopes.count }
        await second.close()
        await running.value
        #expect(second.stats.duplicates == 0, "no delivery the first consumer committed was redelivered")
        #expect(handledByFirst + second.stats.handled == envelopes.count)
        await f.stop()
    }

    /// A quorum queue past its delivery limit dead-letters into `troupe.<component>.dead`, never drops.
    @Test func aQuorumQueuesDeliveryLimitDeadLettersIntoTheDeadQueue() async throws {
        let broker = TestBroker(queueType: .quorum, deliveryLimit: 2)
        defer { broker.cleanUp() }
        try broker.declare(topics: ["order.*"])
        let c = try broker.connection()
        try c.publish(exchange: broker.exchange, routingKey: "order.created", AMQPMessage(body: Array("{}".utf8), messageID: "limited"))
        let queue = WireTopology.queue(broker.component), dead = WireTopology.deadQueue(broker.component)
        var deliveries = 0
        try await eventually("the message dead-lettered by the broker") {
            if let d = try c.get(queue: queue) {
                deliveries += 1
                try c.reject(d.tag, requeue: true)                       // as a consumer that keeps failing would
            }
            return try c.messageCount(dead) == 1
        }
        #expect(deliveries >= 2)
        let letter = try #require(try c.get(queue: dead))
        #expect(letter.message.messageID == "limited")
        #expect(DeadLetterQueue.info(letter.message).error.contains("delivery_limit"), "\(DeadLetterQueue.info(letter.message).error)")
        try c.ack(letter.tag)
    }

    /// `replay --all` takes the letters there when it started: those that fail again during the replay land
    /// behind them and are not taken twice.
    @Test func replayingEverythingTakesASnapshot() async throws {
        struct Refused: Error {}
        let f = try await ConsumerFixture { _, _ in throw PermanentError(Refused()) }
        try await f.publish((0..<200).map { orderEnvelope(n: $0) })
        try await eventually("200 dead letters") { f.consumer.stats.deadLettered == 200 }
        try await eventually("all in the dead queue") { try f.broker.count(WireTopology.deadQueue(f.broker.component)) == 200 }
        let result = try await DeadLetterQueue.replay(url: TestBroker.url, component: f.broker.component, id: nil)
        #expect(result.replayed == 200, "each letter once, however fast they died again")
        #expect(result.kept.isEmpty)
        try await eventually("each replayed letter dead again") { f.consumer.stats.deadLettered == 400 }
        try await eventually("200 in the dead queue") { try f.broker.count(WireTopology.deadQueue(f.broker.component)) == 200 }
        await f.stop()
    }
}
