import ActorRuntime
import Bridges
import BenchRawLoops
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
    /// The C loops negotiate the heartbeat Troupe's connections use (same settings on both sides).
    static let heartbeat: Int32 = 10

    @Sendable static func run() async throws {
        try await amqp()
        try await endToEnd()
        try await postgres()
    }

    static func admin(_ body: @escaping @Sendable (AMQPConnection) throws -> Void) async throws {
        let url = try AMQPURL(amqpURL)
        try await DedicatedThread.run("bench.admin") { try body(AMQPConnection(url: url)) }
    }

    // MARK: publish and consume

    /// Troupe's publisher and consumer against the bare C loops in alternating rounds (which side goes
    /// first swaps each round), so drift in a shared machine's speed falls on both sides alike. Each side
    /// has a queue of its own, empty when it starts publishing and holding only its messages when it
    /// consumes. Each side's figure is its messages over its total time across the rounds.
    static func amqp() async throws {
        let rawQueue = "troupe.bench.amqp.raw", queue = "troupe.bench.amqp.troupe"
        let url = try AMQPURL(amqpURL)
        try await admin { c in for q in [rawQueue, queue] { try c.declareQueue(q); try c.purge(q) } }
        let rounds = max(1, Int(env["BENCH_ROUNDS"] ?? "") ?? 20)
        let perRound = max(1000, messages / rounds / 1000 * 1000)
        var time = (rawPublish: 0.0, publish: 0.0, rawConsume: 0.0, consume: 0.0)
        var ratios = (publish: [Double](), consume: [Double]())
        // one publisher for all rounds, connected before the first is timed (as the C loop's connection is)
        let publisher = try AMQPPublisher(url: amqpURL, name: "bench", heartbeat: Int(heartbeat))
        try await publisher.publish(exchange: "", routingKey: "", AMQPMessage(body: body))

        for round in 0..<rounds {
            let rawFirst = round % 2 == 0
            var t = (rawPublish: 0.0, publish: 0.0, rawConsume: 0.0, consume: 0.0)
            if rawFirst { t.rawPublish = try await rawLoop { try publishRaw(url, rawQueue, perRound) } }
            t.publish = try await publishTroupe(publisher, queue, perRound)
            if !rawFirst { t.rawPublish = try await rawLoop { try publishRaw(url, rawQueue, perRound) } }
            if rawFirst { t.rawConsume = try await rawLoop { try consumeRaw(url, rawQueue, perRound) } }
            t.consume = try await consumeTroupe(queue, perRound)
            if !rawFirst { t.rawConsume = try await rawLoop { try consumeRaw(url, rawQueue, perRound) } }
            time.rawPublish += t.rawPublish; time.publish += t.publish; time.rawConsume += t.rawConsume; time.consume += t.consume
            ratios.publish.append(t.rawPublish / t.publish)
            ratios.consume.append(t.rawConsume / t.consume)
            if env["BENCH_VERBOSE"] != nil { print("round \(round) publish \(t.rawPublish / t.publish) consume \(t.rawConsume / t.consume)") }
        }
        await publisher.close()
        try await admin { c in for q in [rawQueue, queue] { try c.deleteQueue(q) } }

        let total = Double(rounds * perRound)
        report("amqp.raw_publish_confirmed", total / time.rawPublish, "msg/s")
        report("amqp.publish_confirmed", total / time.publish, "msg/s")
        report("amqp.publish_vs_raw", time.rawPublish / time.publish, "ratio")
        report("amqp.publish_vs_raw_median", percentile(ratios.publish.sorted(), 0.5), "ratio")
        report("amqp.raw_consume_acked", total / time.rawConsume, "msg/s")
        report("amqp.consume_acked", total / time.consume, "msg/s")
        report("amqp.consume_vs_raw", time.rawConsume / time.consume, "ratio")
        report("amqp.consume_vs_raw_median", percentile(ratios.consume.sorted(), 0.5), "ratio")
    }

    /// Runs a C loop on a thread of its own; returns the seconds it took.
    static func rawLoop(_ loop: @escaping @Sendable () throws -> Double) async throws -> Double {
        try await DedicatedThread.run("bench.raw", loop)
    }

    struct RawLoopFailure: Error, CustomStringConvertible { let description: String }

    /// Runs one C loop; returns the seconds it took for `n` messages, or throws the reason it gave.
    static func cLoop(_ what: String, _ n: Int, _ loop: (UnsafeMutablePointer<CChar>) -> Double) throws -> Double {
        var error = [CChar](repeating: 0, count: 128)
        let rate = error.withUnsafeMutableBufferPointer { loop($0.baseAddress!) }
        guard rate > 0 else {
            throw RawLoopFailure(description: "\(what): " + String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return Double(n) / rate
    }

    static func publishRaw(_ url: AMQPURL, _ queue: String, _ n: Int) throws -> Double {
        try cLoop("raw publish", n) { troupe_raw_publish_confirmed(url.host, Int32(url.port), url.user, url.password, heartbeat, queue, n, body.count, 1000, $0) }
    }

    static func consumeRaw(_ url: AMQPURL, _ queue: String, _ n: Int) throws -> Double {
        try cLoop("raw consume", n) { troupe_raw_consume_acked(url.host, Int32(url.port), url.user, url.password, heartbeat, queue, n, 500, $0) }
    }

    /// The same work through Troupe: confirms awaited per 1,000.
    static func publishTroupe(_ publisher: AMQPPublisher, _ queue: String, _ n: Int) async throws -> Double {
        let batch = Array(repeating: (exchange: "", routingKey: queue, message: AMQPMessage(body: body)), count: 1000)
        let start = ContinuousClock.now
        for _ in 0..<(n / 1000) { try await publisher.publish(batch) }
        return seconds(since: start)
    }

    /// Prefetch 500 and an ack per message, as the C loop (timed from the first delivery's request).
    static func consumeTroupe(_ queue: String, _ n: Int) async throws -> Double {
        let consumer = try AMQPConsumer(url: amqpURL, queue: queue, prefetch: 500, heartbeat: Int(heartbeat))
        var received = 0
        let start = ContinuousClock.now
        while received < n {
            let batch = await consumer.next(max: min(500, n - received))
            for d in batch { consumer.ack(d) }
            received += batch.count
        }
        let elapsed = seconds(since: start)
        await consumer.close()
        return elapsed
    }

    // MARK: end to end

    /// Publish -> consume -> handler (inbox row + one state row, one transaction per batch) -> ack.
    /// Publishes events to a consumer that records each in its inbox and a table; returns the events/s.
    @discardableResult
    static func endToEnd() async throws -> Double {
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
        return rate
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
