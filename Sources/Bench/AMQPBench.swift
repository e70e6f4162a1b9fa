import ActorRuntime
import Bridges
import Foundation
import Synchronization

/// `troupe-bench amqp`: RabbitMQ and PostgreSQL through the bridges, against bare librabbitmq loops in
/// the same run. Needs the services of `scripts/services.sh` (TROUPE_AMQP_URL, TROUPE_DATABASE_URL).
enum AMQPBench {
    static let env = ProcessInfo.processInfo.environment
    static let amqpURL = env["TROUPE_AMQP_URL"] ?? "amqp://guest:guest@127.0.0.1:5679/%2F"
    static let databaseURL = env["TROUPE_DATABASE_URL"] ?? "postgresql://troupe:troupe@127.0.0.1:5439/troupe"
    static let messages = Int(env["BENCH_MESSAGES"] ?? "") ?? 100_000
    static let events = Int(env["BENCH_EVENTS"] ?? "") ?? 30_000
    static let body = [UInt8](repeating: UInt8(ascii: "x"), count: 100)

    @Sendable static func run() async {
        do {
            try await amqp()
            try await endToEnd()
            try await postgres()
        } catch {
            FileHandle.standardError.write(Data("troupe-bench amqp: \(error) (are the services up? scripts/services.sh start)\n".utf8))
            exit(1)
        }
    }

    static func admin(_ body: @escaping @Sendable (AMQPConnection) throws -> Void) async throws {
        let url = try AMQPURL(amqpURL)
        try await DedicatedThread.run("bench.admin") { try body(AMQPConnection(url: url)) }
    }

    // MARK: publish and consume

    static func amqp() async throws {
        let queue = "troupe.bench.amqp"
        let url = try AMQPURL(amqpURL)
        try await admin { c in try c.declareQueue(queue); try c.purge(queue) }

        let n = messages, body = self.body
        let rawPublish = try await DedicatedThread.run("bench.raw") { () -> Double in
            let conn = try RawAMQP.connect(url.host, url.port, url.user, url.password)
            defer { RawAMQP.close(conn) }
            let start = ContinuousClock.now
            try RawAMQP.publishConfirmed(conn, queue: queue, count: n, body: body)
            return Double(n) / seconds(since: start)
        }
        let rawConsume = try await DedicatedThread.run("bench.raw") { () -> Double in
            let conn = try RawAMQP.connect(url.host, url.port, url.user, url.password)
            defer { RawAMQP.close(conn) }
            let start = ContinuousClock.now
            try RawAMQP.consumeAcked(conn, queue: queue, count: n)
            return Double(n) / seconds(since: start)
        }

        // The same work through Troupe: confirms awaited per 1,000, prefetch 500 and an ack per message.
        let publisher = try AMQPPublisher(url: amqpURL, name: "bench")
        let message = AMQPMessage(body: body)
        var start = ContinuousClock.now
        for _ in 0..<(n / 1000) {
            try await publisher.publish(Array(repeating: (exchange: "", routingKey: queue, message: message), count: 1000))
        }
        let publish = Double(n / 1000 * 1000) / seconds(since: start)
        await publisher.close()

        let consumer = try AMQPConsumer(url: amqpURL, queue: queue, prefetch: 500)
        var received = 0
        start = ContinuousClock.now
        while received < n / 1000 * 1000 {
            let batch = await consumer.next(max: 500)
            for d in batch { consumer.ack(d) }
            received += batch.count
        }
        let consume = Double(received) / seconds(since: start)
        await consumer.close()
        try await admin { try $0.deleteQueue(queue) }

        report("amqp.raw_publish_confirmed", rawPublish, "msg/s")
        report("amqp.publish_confirmed", publish, "msg/s")
        report("amqp.publish_vs_raw", publish / rawPublish, "ratio")
        report("amqp.raw_consume_acked", rawConsume, "msg/s")
        report("amqp.consume_acked", consume, "msg/s")
        report("amqp.consume_vs_raw", consume / rawConsume, "ratio")
    }

    // MARK: end to end

    /// Publish -> consume -> handler (inbox row + one state row, one transaction per batch) -> ack.
    static func endToEnd() async throws {
        let schema = "bench_e2e"
        let setup = PostgresPool(.init(url: databaseURL, size: 1))
        try await setup.withConnection { db in
            try db.query("DROP SCHEMA IF EXISTS \(schema) CASCADE")
            try db.query("CREATE SCHEMA \(schema)")
        }
        await setup.shutdown()
        let pool = PostgresPool(.init(url: databaseURL, size: 4, applicationName: "bench", schema: schema))
        try await Migrator(pool: pool, migrations: Migration.bundled()).run()
        try await pool.withConnection { try $0.query("CREATE TABLE orders_seen (id uuid PRIMARY KEY, topic text NOT NULL)") }

        let component = "bench-e2e"
        let topology = WireTopology(exchange: "troupe.bench")
        let publisher = try AMQPPublisher(url: amqpURL, name: "bench-e2e") { try topology.declareExchange(on: $0) }
        let latencies = Mutex<[Double]>([])
        let handler: EnvelopeConsumer.Handler = { envelope, context in
            try context.db.query("INSERT INTO orders_seen (id, topic) VALUES ($1, $2)", [envelope.id, envelope.topic])
            if case .object(let o) = envelope.payload, case .number(let sent)? = o["sentAt"] {
                let ms = (Date().timeIntervalSince1970 - sent) * 1000
                latencies.withLock { $0.append(ms) }
            }
        }
        let consumer = try EnvelopeConsumer(.init(component: component, topics: ["bench.#"], prefetch: Int(env["BENCH_PREFETCH"] ?? "") ?? 1000, batchSize: Int(env["BENCH_BATCH"] ?? "") ?? 200, topology: topology),
                                            amqpURL: amqpURL, pool: pool, publisher: publisher, handler: handler)
        let running = Task { await consumer.run() }
        while !consumer.consumer.isConsuming { try await Task.sleep(for: .milliseconds(10)) }
        try await admin { try $0.purge(WireTopology.queue(component)) }

        func envelope(_ i: Int, sentAt: Double? = nil) -> (exchange: String, routingKey: String, message: AMQPMessage) {
            var payload: [String: JSONValue] = ["n": .number(Double(i))]
            if let sentAt { payload["sentAt"] = .number(sentAt) }
            let e = Envelope(topic: "bench.order", producerId: "bench", correlationId: "b\(i)", payload: .object(payload))
            return (topology.exchange, e.topic, OutboxRelay.message(e))
        }

        // Throughput: everything published as fast as confirms allow, consumed concurrently.
        let n = events
        let start = ContinuousClock.now
        for chunk in stride(from: 0, to: n, by: 1000) {
            try await publisher.publish((chunk..<min(chunk + 1000, n)).map { envelope($0) })
        }
        while consumer.stats.handled < n { try await Task.sleep(for: .milliseconds(5)) }
        let rate = Double(n) / seconds(since: start)

        // Latency at half that rate: a steady stream for 5 s, in 10 ms ticks.
        let perTick = max(1, Int(rate / 2 / 100))
        let before = consumer.stats.handled
        var sent = 0
        let streamStart = ContinuousClock.now
        while ContinuousClock.now - streamStart < .seconds(5) {
            let tick = ContinuousClock.now
            try await publisher.publish((0..<perTick).map { envelope(n + sent + $0, sentAt: Date().timeIntervalSince1970) })
            sent += perTick
            let elapsed = ContinuousClock.now - tick
            if elapsed < .milliseconds(10) { try await Task.sleep(for: .milliseconds(10) - elapsed) }
        }
        while consumer.stats.handled < before + sent { try await Task.sleep(for: .milliseconds(5)) }
        let sorted = latencies.withLock { $0.sorted() }

        await consumer.close()
        await running.value
        await publisher.close()
        try await admin { c in
            for q in topology.queues(of: component) { try c.deleteQueue(q) }
        }
        try await pool.withConnection { try $0.query("DROP SCHEMA \(schema) CASCADE") }
        await pool.shutdown()

        report("amqp.e2e_inbox", rate, "events/s")
        report("amqp.e2e_inbox_stream_rate", Double(sent) / 5, "events/s")
        report("amqp.e2e_inbox_p50", percentile(sorted, 0.50), "ms")
        report("amqp.e2e_inbox_p99", percentile(sorted, 0.99), "ms")
    }

    static func percentile(_ sorted: [Double], _ p: Double) -> Double {
        guard !sorted.isEmpty else { return .nan }
        return sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
    }

    // MARK: PostgreSQL bulk paths

    static func postgres() async throws {
        let pool = PostgresPool(.init(url: databaseURL, size: 1, applicationName: "bench"))
        let rows: [[any PostgresEncodable]] = (0..<messages).map { [Int64($0), PostgresBytes(body)] }
        try await pool.withConnection { db in
            try db.query("DROP TABLE IF EXISTS bench_rows")
            try db.query("CREATE TABLE bench_rows (id bigint PRIMARY KEY, payload bytea)")
        }
        var start = ContinuousClock.now
        try await pool.transaction { try $0.pipelined("INSERT INTO bench_rows VALUES ($1, $2)", rows: rows) }
        let pipeline = Double(rows.count) / seconds(since: start)
        try await pool.withConnection { try $0.query("TRUNCATE bench_rows") }
        start = ContinuousClock.now
        try await pool.transaction { try $0.copy("COPY bench_rows (id, payload) FROM STDIN", rows: rows) }
        let copy = Double(rows.count) / seconds(since: start)
        try await pool.withConnection { try $0.query("DROP TABLE bench_rows") }
        await pool.shutdown()
        report("pg.insert_pipeline", pipeline, "rows/s")
        report("pg.copy", copy, "rows/s")
    }
}
