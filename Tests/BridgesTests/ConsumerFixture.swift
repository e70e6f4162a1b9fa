import ActorRuntimeTesting
import ActorRuntime
@testable import Bridges
import Foundation

/// A component consuming from the real broker into the real database: a private schema with Troupe's
/// migrations and an `effects` table, a private component name, a publisher, and an EnvelopeConsumer
/// running `handler`.
struct ConsumerFixture {
    let db: TestDatabase
    let broker: TestBroker
    let pool: PostgresPool
    let publisher: AMQPPublisher
    let consumer: EnvelopeConsumer
    let running: Task<Void, Never>

    init(topics: [String] = ["order.*"], retryDelays: [Duration] = [.milliseconds(50), .milliseconds(100)], batchSize: Int = 64,
         handler: @escaping EnvelopeConsumer.Handler = ConsumerFixture.recordEffect, prepare: EnvelopeConsumer.Prepare? = nil) async throws {
        db = try TestDatabase()
        broker = TestBroker(retryDelays: retryDelays)
        pool = db.pool(size: 2)
        try await Migrator(pool: pool, migrations: Migration.bundled()).run()
        try await pool.withConnection { try $0.query("CREATE TABLE effects (envelope_id uuid, topic text, at timestamptz DEFAULT clock_timestamp())") }
        let topology = broker.topology
        publisher = try AMQPPublisher(url: TestBroker.url) { try topology.declareExchange(on: $0) }
        consumer = try EnvelopeConsumer(.init(component: broker.component, topics: topics, prefetch: 100, batchSize: batchSize, topology: topology),
                                        amqpURL: TestBroker.url, pool: pool, publisher: publisher, prepare: prepare, handler: handler)
        let consumer = self.consumer
        running = Task { await consumer.run() }
        try await eventually("the consumer to start") { consumer.consumer.isConsuming }
    }

    /// The default handler: one row in `effects` per envelope.
    static let recordEffect: EnvelopeConsumer.Handler = { envelope, context in
        try context.db.query("INSERT INTO effects (envelope_id, topic) VALUES ($1, $2)", [envelope.id, envelope.topic])
    }

    /// Publishes envelopes per the wire contract.
    func publish(_ envelopes: [Envelope]) async throws {
        try await publisher.publish(envelopes.map { (broker.exchange, $0.topic, Self.message($0)) })
    }

    /// A raw body, e.g. a poison message.
    func publishRaw(_ body: String, topic: String = "order.created") async throws {
        try await publisher.publish(exchange: broker.exchange, routingKey: topic, AMQPMessage(body: Array(body.utf8), type: topic))
    }

    static func message(_ e: Envelope) -> AMQPMessage { OutboxRelay.message(e) }

    func effectCount(_ id: UUID? = nil) async throws -> Int {
        try await pool.transaction { db in            // retried if the server dropped the connection
            let rows = if let id { try db.query("SELECT count(*) AS n FROM effects WHERE envelope_id = $1", [id]) }
                       else { try db.query("SELECT count(*) AS n FROM effects") }
            return try rows.rows[0].decode("n", as: Int.self)
        }
    }

    /// Every message in the dead queue (read without removing them).
    func deadLetters() throws -> [AMQPMessage] {
        let c = try broker.connection()
        var out: [AMQPMessage] = []
        while let d = try c.get(queue: WireTopology.deadQueue(broker.component)) { out.append(d.message) }
        return out
    }

    func stop() async {
        await consumer.close()
        await running.value
        await publisher.close()
        await pool.shutdown()
        broker.cleanUp()
        db.drop()
    }
}

func orderEnvelope(_ topic: String = "order.created", n: Int = 0) -> Envelope {
    Envelope(topic: topic, producerId: "test", correlationId: "req-\(n)", payload: .object(["n": .number(Double(n))]))
}
