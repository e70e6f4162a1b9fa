import ActorRuntimeTesting
import ActorRuntime
@testable import Bridges
import Foundation
import Testing

@Suite struct OutboxRelayTests {
    /// A queue of the test's own bound to `topic` on the fixture's exchange, and its consumer.
    func listen(_ f: ConsumerFixture, topic: String) throws -> (AMQPConsumer, String) {
        let queue = "troupe.test.listen.\(UUID().uuidString.prefix(8))"
        let c = try f.broker.connection()
        try c.declareQueue(queue)
        try c.bind(queue: queue, exchange: f.broker.exchange, routingKey: topic)
        return (try AMQPConsumer(url: TestBroker.url, queue: queue, prefetch: 100), queue)
    }

    func collect(_ consumer: AMQPConsumer, _ count: Int) async -> [Envelope] {
        var out: [Envelope] = []
        while out.count < count {
            let batch = await consumer.next(max: 100)
            if batch.isEmpty { break }
            out += batch.compactMap { try? Envelope.decode(Data($0.message.body)) }
            if let last = batch.last { consumer.ack(last, multiple: true) }
        }
        return out
    }

    /// Rows in the fixture's outbox (committed and not yet published).
    func outboxRows(_ f: ConsumerFixture) async throws -> Int {
        try await f.pool.withConnection { try $0.query("SELECT count(*) AS n FROM troupe_outbox").rows[0].decode("n", as: Int.self) }
    }

    /// Writes `envelopes` to the outbox in one committed transaction, as a handler's emits are.
    func commit(_ envelopes: [Envelope], in f: ConsumerFixture) async throws {
        try await f.pool.transaction { db in
            let context = DeliveryContext(db: db)
            for e in envelopes { try context.emit(e) }
        }
    }

    /// Closes the listener, deletes its queue and stops the fixture.
    func tearDown(_ f: ConsumerFixture, _ listener: AMQPConsumer, _ queue: String) async {
        await listener.close()
        try? f.broker.connection().deleteQueue(queue)
        await f.stop()
    }

    @Test(.timeLimit(.minutes(1))) func envelopesAHandlerEmitsArePublishedAfterCommit() async throws {
        let f = try await ConsumerFixture { envelope, context in
            try context.emit(Envelope(topic: "inventory.reserved", producerId: "inventory", correlationId: envelope.correlationId,
                                      payload: .object(["for": .string(envelope.id.uuidString)])))
        }
        let (listener, queue) = try listen(f, topic: "inventory.reserved")
        // No poll within the test: the handlers' commits wake the relay (OutboxBell), nothing else does.
        let relay = OutboxRelay(pool: f.pool, databaseURL: TestDatabase.url, publisher: f.publisher, exchange: f.broker.exchange,
                                pollInterval: .seconds(3600))
        let relaying = Task { await relay.run() }
        let orders = (0..<20).map { orderEnvelope(n: $0) }
        try await f.publish(orders)
        let emitted = await collect(listener, 20)
        #expect(emitted.count == 20)
        #expect(Set(emitted.map(\.correlationId)) == Set(orders.map(\.correlationId)), "the correlation id travels on")
        #expect(emitted.allSatisfy { $0.producerId == "inventory" })
        try await eventually("rows deleted once published") { try await outboxRows(f) == 0 }
        relay.stop()
        await relaying.value
        await tearDown(f, listener, queue)
    }

    @Test(.timeLimit(.minutes(1))) func rowsWhosePublishFailedStayAndArePublishedByTheNextAttempt() async throws {
        let f = try await ConsumerFixture()
        let (listener, queue) = try listen(f, topic: "payment.#")
        let pending = (0..<5).map { Envelope(topic: "payment.debited", producerId: "payment", correlationId: "p\($0)", payload: .object([:])) }
        try await commit(pending, in: f)
        // A publisher that cannot publish: the relay's transaction rolls back and the rows are still there.
        let closed = try AMQPPublisher(url: TestBroker.url, name: "closed")
        await closed.close()
        let failing = OutboxRelay(pool: f.pool, databaseURL: TestDatabase.url, publisher: closed, exchange: f.broker.exchange)
        await #expect(throws: AMQPError.self) { try await failing.relayBatch() }
        failing.stop()
        #expect(try await outboxRows(f) == 5)

        let relay = OutboxRelay(pool: f.pool, databaseURL: TestDatabase.url, publisher: f.publisher, exchange: f.broker.exchange)
        #expect(try await relay.relayBatch() == 5)
        #expect(try await outboxRows(f) == 0)
        #expect(await collect(listener, 5).map(\.id) == pending.map(\.id))

        // What run() does after every `vacuumEvery` deleted rows: a plain VACUUM, outside any transaction.
        try await relay.vacuum()
        try await eventually("the outbox vacuumed") {
            try await f.pool.withConnection { db in
                try db.query("SELECT vacuum_count AS n FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = 'troupe_outbox'",
                             [f.db.schema]).rows.first?.decode("n", as: Int.self)
            } == 1
        }
        relay.stop()
        await tearDown(f, listener, queue)
    }

    @Test(.timeLimit(.minutes(1))) func aRowThatIsNotAnEnvelopeGoesOutAsItIsAndDoesNotHoldUpTheOthers() async throws {
        let f = try await ConsumerFixture()
        let (listener, queue) = try listen(f, topic: "payment.#")
        let good = Envelope(topic: "payment.debited", producerId: "payment", correlationId: "good", payload: .object([:]))
        try await f.pool.transaction { db in
            try db.query("INSERT INTO troupe_outbox (id, topic, envelope) VALUES ($1, 'payment.debited', '{\"not\": \"an envelope\"}')", [UUID()])
            try DeliveryContext(db: db).emit(good)
        }
        let relay = OutboxRelay(pool: f.pool, databaseURL: TestDatabase.url, publisher: f.publisher, exchange: f.broker.exchange)
        #expect(try await relay.relayBatch() == 2)
        var got: [AMQPDelivery] = []
        while got.count < 2 {
            let batch = await listener.next(max: 2 - got.count)
            if batch.isEmpty { break }
            got += batch
        }
        #expect(got.count == 2)
        #expect(got.first.map { String(decoding: $0.message.body, as: UTF8.self) } == #"{"not": "an envelope"}"#, "first, as it was written")
        #expect(got.first?.routingKey == "payment.debited")
        #expect(got.last.flatMap { try? Envelope.decode($0.message.body) }?.id == good.id)
        if let last = got.last { listener.ack(last, multiple: true) }
        relay.stop()
        await tearDown(f, listener, queue)
    }

    @Test func envelopesCommittedWhileNoRelayRanArePublishedWhenOneStarts() async throws {
        let f = try await ConsumerFixture()
        let (listener, queue) = try listen(f, topic: "payment.#")
        // The "crash": state and outbox rows committed, and no relay running to publish them.
        let pending = (0..<30).map { Envelope(topic: "payment.debited", producerId: "payment", correlationId: "c\($0)", payload: .object([:])) }
        try await commit(pending, in: f)
        #expect(try await outboxRows(f) == 30)

        let relay = OutboxRelay(pool: f.pool, databaseURL: TestDatabase.url, publisher: f.publisher, exchange: f.broker.exchange,
                                batchSize: 7, pollInterval: .seconds(5))
        let relaying = Task { await relay.run() }
        let got = await collect(listener, 30)
        #expect(got.map(\.id) == pending.map(\.id), "all of them, in commit order")
        try await eventually("all 30 published") { relay.published == 30 }
        relay.stop()
        await relaying.value
        await tearDown(f, listener, queue)
    }

    /// A row that can never be published (here a topic over AMQP's 255-byte routing key) does not hold up
    /// the outbox or loop reconnecting: it moves to `troupe_outbox_dead` with the reason, in the transaction
    /// that deletes the published rows. An envelope over the wire limits goes out as it is (its consumers
    /// dead-letter it, naming the field).
    @Test func aRowThatCanNeverBePublishedMovesToTheDeadOutboxWithItsReasonAndTheRestFlow() async throws {
        let f = try await ConsumerFixture()
        let (listener, queue) = try listen(f, topic: "payment.#")
        func envelope(_ topic: String, _ correlation: String) -> Envelope {
            Envelope(topic: topic, producerId: "payment", correlationId: correlation, payload: .object([:]))
        }
        let unroutable = envelope("payment." + String(repeating: "x", count: 300), "c2")
        let rows = [envelope("payment.debited", "c1"), unroutable, envelope("payment.debited", String(repeating: "c", count: 300)),
                    envelope("payment.debited", "c4")]
        try await commit(rows, in: f)
        let relay = OutboxRelay(pool: f.pool, databaseURL: TestDatabase.url, publisher: f.publisher, exchange: f.broker.exchange)
        let taken = Outcome.of { try await relay.relayBatch() }
        try await eventually("the batch relayed", timeout: .seconds(15)) { taken.value != nil }
        #expect(try taken.value?.get() == 4, "every row taken: three published, one moved")
        #expect(relay.published == 3)
        #expect(f.publisher.reconnects == 0)
        #expect(try await outboxRows(f) == 0)
        var got: [AMQPDelivery] = []
        while got.count < 3 {
            let batch = await listener.next(max: 3 - got.count)
            if batch.isEmpty { break }
            got += batch
        }
        // In order; the one over the wire limits as it was written, without properties (no message_id).
        #expect(got.map { String(decoding: $0.message.body, as: UTF8.self) } == [rows[0], rows[2], rows[3]].map { String(decoding: $0.jsonBytes(), as: UTF8.self) })
        #expect(got.map(\.message.messageID) == [rows[0].id.lowercasedString, nil, rows[3].id.lowercasedString])
        if let last = got.last { listener.ack(last, multiple: true) }

        let dead = try await DeadOutbox.list(pool: f.pool)
        #expect(dead.map(\.id) == [unroutable.id.lowercasedString])
        #expect(dead.first?.topic == unroutable.topic)
        #expect(dead.first?.reason.contains("routing key") == true, "\(dead.first?.reason ?? "")")
        // The operator mends the row by hand and replays it: it is back in the outbox, in order.
        try await f.pool.withConnection { try $0.query("UPDATE troupe_outbox_dead SET topic = 'payment.mended'") }
        #expect(try await DeadOutbox.replay(pool: f.pool, id: nil) == 1)
        #expect(try await outboxRows(f) == 1)
        #expect(try await DeadOutbox.list(pool: f.pool).isEmpty)
        relay.stop()
        await tearDown(f, listener, queue)
    }
}
