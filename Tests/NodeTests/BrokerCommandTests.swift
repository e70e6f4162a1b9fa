import ActorRuntimeTesting
@testable import Bridges
import Foundation
import Testing

extension ComponentQueues {
    /// `troupe publish` and `troupe dlq` against the project's RabbitMQ.
    @Suite(.serialized) struct BrokerCommandTests {
        static let url = ProcessInfo.processInfo.environment["TROUPE_AMQP_URL"] ?? "amqp://guest:guest@127.0.0.1:5679/%2F"
        static let env = ["TROUPE_AMQP_URL": url]

        @Test func publishSendsOneEnvelopePerTheWireContract() async throws {
            let topic = "cli-test.\(UUID().uuidString.prefix(8).lowercased())"
            let queue = "troupe.test.\(topic)"
            let c = try AMQPConnection(url: AMQPURL(Self.url))
            try WireTopology().declareExchange(on: c)
            try c.declareQueue(queue)
            try c.bind(queue: queue, exchange: "troupe.events", routingKey: topic)
            defer { try? c.deleteQueue(queue) }

            let r = try await CLI.run(["publish", topic, #"{"orderId": "o-1"}"#, "--correlation-id", "req-7", "--topology", CLI.repoTopology], environment: Self.env)
            #expect(r.code == 0, "\(r.err)")
            let id = r.out.trimmingCharacters(in: .whitespacesAndNewlines)
            let delivery = try #require(try c.get(queue: queue))
            let m = delivery.message
            #expect(m.messageID == id)
            #expect(m.type == topic)
            #expect(m.correlationID == "req-7")
            #expect(m.contentType == "application/json")
            #expect(m.deliveryMode == 2)
            let body = try JSONSerialization.jsonObject(with: Data(m.body)) as? [String: Any]
            #expect(body?["topic"] as? String == topic)
            #expect(body?["producerId"] as? String == "troupe-cli")
            #expect((body?["payload"] as? [String: Any])?["orderId"] as? String == "o-1")

            let bad = try await CLI.run(["publish", topic, "[1, 2]", "--topology", CLI.repoTopology], environment: Self.env)
            #expect(bad.code == 2)
            #expect(bad.err.contains("JSON must be a JSON object"))
        }

        /// Values the wire cannot carry are refused before anything is sent, naming the field (the command
        /// used to retry a publish the client could never encode, for ever).
        @Test func publishRefusesValuesOverTheWireLimitsNamingTheField() async throws {
            let long = try await CLI.run(["publish", "order.created", "{}", "--correlation-id", String(repeating: "c", count: 300),
                                          "--topology", CLI.repoTopology], environment: Self.env)
            #expect(long.code == 2, "\(long.err)")
            #expect(long.err.contains("--correlation-id"), "\(long.err)")
            #expect(long.err.contains("255"), "\(long.err)")
            let spaced = try await CLI.run(["publish", "order.created", "{}", "--correlation-id", "req 1", "--topology", CLI.repoTopology],
                                           environment: Self.env)
            #expect(spaced.code == 2)
            #expect(spaced.err.contains("--correlation-id"), "\(spaced.err)")
            let topic = try await CLI.run(["publish", String(repeating: "t", count: 256), "{}", "--topology", CLI.repoTopology], environment: Self.env)
            #expect(topic.code == 2)
            #expect(topic.err.contains("TOPIC"), "\(topic.err)")
            #expect(topic.err.contains("255"), "\(topic.err)")
        }

        /// `outbox` names the outbox rows a relay could never publish (in PostgreSQL, not the broker).
        @Test func dlqListsAndPurgesTheOutboxRowsThatCouldNeverBePublished() async throws {
            let url = ProcessInfo.processInfo.environment["TROUPE_DATABASE_URL"] ?? "postgresql://troupe:troupe@127.0.0.1:5439/troupe"
            let env = ["TROUPE_DATABASE_URL": url]
            #expect(try await CLI.run(["migrate", "--topology", CLI.repoTopology], environment: env).code == 0)
            let db = try PostgresConnection(url: url)
            let id = UUID()
            // A seq of this test's own, far below the relay's (the table's key is the outbox's seq).
            let seq = -Int64.random(in: 1...1_000_000_000)
            try db.query("INSERT INTO troupe_outbox_dead (seq, id, topic, envelope, reason, dead_at) VALUES ($1, $2, 'payment.x', '{}', $3, now() - interval '2 hours')",
                         [seq, id, "its routing key is 300 bytes; AMQP short strings hold 255"])
            defer { _ = try? db.query("DELETE FROM troupe_outbox_dead WHERE seq = $1", [seq]) }
            let list = try await CLI.run(["dlq", "list", "outbox", "--topology", CLI.repoTopology], environment: env)
            #expect(list.code == 0, "\(list.err)")
            let line = list.out.split(separator: "\n").first { $0.hasPrefix(id.lowercasedString) }
            #expect(line?.contains("payment.x\t2h 0m\tits routing key is 300 bytes") == true, "\(list.out)")
            let unknown = try await CLI.run(["dlq", "list", "outboxes", "--topology", CLI.repoTopology], environment: env)
            #expect(unknown.code == 2)
            #expect(unknown.err.contains("outbox"), "the choices name it: \(unknown.err)")
            let purge = try await CLI.run(["dlq", "purge", "outbox", "--older-than", "1h", "--topology", CLI.repoTopology], environment: env)
            #expect(purge.code == 0, "\(purge.err)")
            #expect(try db.query("SELECT count(*) AS n FROM troupe_outbox_dead WHERE seq = $1", [seq]).rows[0].decode("n", as: Int.self) == 0)
        }

        @Test func dlqListsReplaysAndPurgesDeadLetters() async throws {
            let c = try AMQPConnection(url: AMQPURL(Self.url))
            try WireTopology().declare(component: "payment", topics: [], on: c)   // as a node of topology.json would
            try c.purge("troupe.payment.dead")
            try c.purge("troupe.payment")
            defer { _ = try? c.purge("troupe.payment.dead"); _ = try? c.purge("troupe.payment") }
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            for (id, age) in [("dead-1", Int64(3_600_000 * 3)), ("dead-2", Int64(1000))] {
                try c.publish(exchange: "", routingKey: "troupe.payment.dead", AMQPMessage(
                    body: Array(#"{"id": "\#(id)"}"#.utf8), messageID: id, type: "payment.debit",
                    headers: ["x-error": .string("permanent failure: insufficient funds"), "x-attempts": .int(3), "x-dead-at": .int(now - age)]))
            }

            let list = try await CLI.run(["dlq", "list", "payment", "--topology", CLI.repoTopology], environment: Self.env)
            #expect(list.code == 0, "\(list.err)")
            let lines = list.out.split(separator: "\n")
            #expect(lines.count == 3)
            #expect(lines[1].hasPrefix("dead-1\tpayment.debit\t3\t3h 0m\tpermanent failure: insufficient funds"), "\(lines[1])")
            try await settles(c, "troupe.payment.dead", 2)       // listing leaves them in place

            let replay = try await CLI.run(["dlq", "replay", "payment", "--id", "dead-2", "--topology", CLI.repoTopology], environment: Self.env)
            #expect(replay.code == 0, "\(replay.err)")
            try await settles(c, "troupe.payment.dead", 1)
            let replayed = try #require(try c.get(queue: "troupe.payment"))
            #expect(replayed.message.messageID == "dead-2")
            #expect(replayed.message.headers["x-attempts"] == nil, "attempts reset")
            try c.ack(replayed.tag)

            let missing = try await CLI.run(["dlq", "replay", "payment", "--id", "nope", "--topology", CLI.repoTopology], environment: Self.env)
            #expect(missing.code == 1)
            #expect(missing.err.contains("no dead letter with id nope"))

            let young = try await CLI.run(["dlq", "purge", "payment", "--older-than", "4h", "--topology", CLI.repoTopology], environment: Self.env)
            #expect(young.out.contains("purged 0 message(s)"))
            let old = try await CLI.run(["dlq", "purge", "payment", "--older-than", "1h", "--topology", CLI.repoTopology], environment: Self.env)
            #expect(old.out.contains("purged 1 message(s)"), "\(old.out) \(old.err)")
            try await settles(c, "troupe.payment.dead", 0)
        }

        /// The broker settles what a finished command fetched (acks, requeues) a moment after the command
        /// exits: wait for the queue to show `count`.
        func settles(_ c: AMQPConnection, _ queue: String, _ count: Int) async throws {
            try await eventually("\(queue) to hold \(count)", timeout: .seconds(10)) { try c.messageCount(queue) == count }
        }
    }
}
