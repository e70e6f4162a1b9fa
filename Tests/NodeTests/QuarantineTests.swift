import ActorRuntime
import ActorRuntimeTesting
import Bridges
import Foundation
import Testing

extension ComponentQueues {
    /// Issue 21 §1: a message that crashes its node is quarantined after `broker.quarantineAfter` returns, under
    /// `troupe up`, against the real broker and database (the crash is the test hook's trap, as a crash bug's).
    @Suite(.serialized) struct QuarantineTests {
        typealias Edge = EdgeTests

        /// Every component on one node, `all`, in `db`'s schema; quarantine after 3 returns.
        static func oneNode(_ db: PrivateSchema) throws -> String {
            try CLI.writeTopology("""
                { "broker": { "url": "\(Edge.amqpURL)", "quarantineAfter": 3 }, "database": { "url": "\(Edge.databaseURL)", "schema": "\(db.name)" },
                  "security": { "apiKeySecret": "\(Edge.secret)" },
                  "nodes": [ { "name": "all", "components": [ { "name": "order-queue" }, { "name": "inventory" }, { "name": "payment" },
                                                              { "name": "notification" }, { "name": "analytics" }, { "name": "brand-sync" } ] } ] }
                """)
        }

        @Test func aMessageThatCrashesItsNodeIsDeadLetteredAfterThreeCrashesAndTheNodeRunsOn() async throws {
            let db = PrivateSchema()
            let topology = try Self.oneNode(db)
            let up = try NodeProcess(["up", "--topology", topology], environment: NodeRuntimeTests.hookEnv)
            defer { up.kill() }
            try await up.waitFor("node started")

            let published = try await CLI.run(["publish", "inventory.reserve", #"{"orderId": "00000000-0000-7000-8000-000000000001", "troupeTestCrash": "inventory"}"#,
                                               "--topology", topology], environment: NodeRuntimeTests.env)
            #expect(published.code == 0, "\(published.err)")
            let id = published.out.trimmingCharacters(in: .whitespacesAndNewlines)

            // It crashes the node three times (troupe up restarts it each time), then is dead-lettered with the reason.
            try await up.eventually("the message dead-lettered as a crasher", timeout: .seconds(90)) {
                let list = try await CLI.run(["dlq", "list", "inventory", "--topology", topology], environment: NodeRuntimeTests.env)
                return list.out.split(separator: "\n").contains { $0.hasPrefix(id) && $0.contains("crashed the consumer 3 times") }
            }
            let restarts = up.text.components(separatedBy: "node exited abnormally; restarting").count - 1
            #expect(restarts == 3, "troupe up restarted the node \(restarts) times; it printed:\n\(up.text)")
            #expect(up.text.contains("TROUPE_TEST_CRASH_HOOK: crashing inventory on envelope \(id)"), "the hook's trap crashed it")
            #expect(try await db.scalar("SELECT count AS v FROM troupe_redeliveries WHERE component = 'inventory' AND message_key = $1", [id]) == 3)

            // The node runs on: troupe up did not stop, and the restarted node handles what comes next.
            #expect(up.exitCode == nil, "troupe up is still running")
            let next = try await CLI.run(["publish", "inventory.reserve", #"{"orderId": "00000000-0000-7000-8000-000000000002", "productId": 1, "quantity": 1}"#,
                                          "--topology", topology], environment: NodeRuntimeTests.env)
            let nextID = try #require(UUID(text: next.out.trimmingCharacters(in: .whitespacesAndNewlines)))
            try await up.eventually("the next message handled") {
                try await db.scalar("SELECT count(*)::int AS v FROM troupe_inbox WHERE component = 'inventory' AND envelope_id = $1", [nextID]) == 1
            }
            up.signal(SIGTERM)
            _ = try? await up.waitForExit(timeout: .seconds(20))
            await db.drop()
        }

        /// Found by review of the first quarantine: a message of another component that came back with the crasher
        /// (both in hand when the process died) was counted and in hand at each of the crasher's crashes, and was
        /// quarantined with it. Returned deliveries now pass one gate per process: the innocent one is handled,
        /// counted below the limit.
        @Test func anotherComponentsMessageReturnedWithTheCrasherIsHandledNotQuarantined() async throws {
            let db = PrivateSchema()
            let topology = try Self.oneNode(db)
            let admin = try AMQPConnection(url: AMQPURL(Edge.amqpURL))
            for component in ["analytics", "inventory"] {
                try WireTopology().declare(component: component, topics: [], on: admin)
                try admin.purge("troupe.\(component)")
            }
            let up = try NodeProcess(["up", "--topology", topology], environment: NodeRuntimeTests.hookEnv)
            defer { up.kill() }
            try await up.waitFor("node=all [Node] node started")
            func send(_ queue: String, _ marker: String, _ component: String) async throws -> Envelope {
                let envelope = Envelope(topic: "test.\(marker)", producerId: "test", correlationId: "req-\(marker)", payload: .object([marker: .string(component)]))
                try await NodeRuntimeTests.publish(envelope, to: queue)
                return envelope
            }
            // The innocent message is in analytics' hands (its handler takes 3 s) when the crasher kills the process.
            let innocent = try await send("troupe.analytics", "troupeTestSlow", "analytics")
            try await up.waitFor("TROUPE_TEST_CRASH_HOOK: slow analytics on envelope \(innocent.id.lowercasedString)")
            let crasher = try await send("troupe.inventory", "troupeTestCrash", "inventory")

            try await up.eventually("the crasher dead-lettered", timeout: .seconds(90)) {
                let list = try await CLI.run(["dlq", "list", "inventory", "--topology", topology], environment: NodeRuntimeTests.env)
                return list.out.split(separator: "\n").contains { $0.hasPrefix(crasher.id.lowercasedString) && $0.contains("crashed the consumer 3 times") }
            }
            try await up.eventually("the innocent message handled") {
                try await db.scalar("SELECT count(*)::int AS v FROM troupe_inbox WHERE component = 'analytics' AND envelope_id = $1", [innocent.id]) == 1
            }
            let counted: Int = try await db.scalar("SELECT coalesce(max(count), 0) AS v FROM troupe_redeliveries WHERE component = 'analytics' AND message_key = $1",
                                                   [innocent.id.lowercasedString])
            // Once, or twice if its ack had not left when the crasher struck; never up to the limit.
            #expect(counted < 3, "the innocent message was counted \(counted) times; troupe up printed:\n\(up.text)")
            let dead = try await CLI.run(["dlq", "list", "analytics", "--topology", topology], environment: NodeRuntimeTests.env)
            #expect(!dead.out.contains(innocent.id.lowercasedString), "\(dead.out)")
            up.signal(SIGTERM)
            _ = try? await up.waitForExit(timeout: .seconds(20))
            await db.drop()
        }

        /// Issue 21 §2 and §3: a node in a crash loop over its restart intensity (here 2 restarts) is held, alone:
        /// orders through the other nodes complete meanwhile, the edge's /health names it, and after its hold it
        /// comes back, the message that crashed it dead-lettered at its third return.
        @Test func aNodeInACrashLoopIsHeldWhileOrdersThroughTheOthersCompleteAndComesBackAfterItsHold() async throws {
            let admin = try AMQPConnection(url: AMQPURL(Edge.amqpURL))
            try WireTopology().declare(component: "notification", topics: [], on: admin)
            try admin.purge("troupe.notification")
            let f = try await SagaTests.start(stock: 10, settings: #""nodeRestarts": { "max": 2, "within": "60s", "holdFor": "30s" },"#,
                                              environment: NodeRuntimeTests.hookEnv)
            defer { f.up.kill() }
            try await f.up.waitFor("node=workers [Node] node started")
            let envelope = Envelope(topic: "test.crash", producerId: "test", correlationId: "req-held-1", payload: .object(["troupeTestCrash": .string("notification")]))
            try await NodeRuntimeTests.publish(envelope, to: "troupe.notification")

            // Three crashes (the first delivery and two returns): held, the status table printed.
            try await f.up.waitFor("node restarted too often; held, the other nodes run on", timeout: .seconds(60))
            #expect(f.up.text.contains("node=workers restarts=2"), "\(f.up.text)")
            try await f.up.eventually("the status table (printed after the log line)") {
                let table = f.up.text.split(separator: "\n")
                return table.contains { $0.hasPrefix("  workers ") && $0.contains(" held        restarted 2 times within 60.0 seconds; next try at ") }
                    && table.contains { $0.hasPrefix("  orders ") && $0.contains(" running     pid ") }
            }

            // Meanwhile orders through the edge and the orders node complete.
            let id = try await SagaTests.place(f, ref: "held-1", quantity: 1)
            try await eventually("the order completed") { try await SagaTests.state(f, id).status == "Completed" }
            #expect(!f.up.text.contains("held node started again"), "the order completed while workers was held")

            // The edge's /health says which node is down.
            let health = f.edge.base.appendingPathComponent("health")
            try await eventually("/health naming the held node", timeout: .seconds(25)) {
                let r = try await EdgeTests.get(health)
                guard r.status == 200, case .string(let status)? = r.json["status"], case .string(let why)? = r.json["nodesDown"]?["workers"] else { return false }
                return status == "degraded" && why.hasPrefix("down: last seen ")
            }

            // After its hold it comes back; the message, back a third time, is dead-lettered and the node runs on.
            try await f.up.waitFor("held node started again", timeout: .seconds(45))
            try await eventually("the crasher dead-lettered") {
                let list = try await CLI.run(["dlq", "list", "notification", "--topology", f.topology], environment: NodeRuntimeTests.env)
                return list.out.split(separator: "\n").contains { $0.hasPrefix(envelope.id.lowercasedString) && $0.contains("crashed the consumer 3 times") }
            }
            try await eventually("/health ok again", timeout: .seconds(20)) {
                let r = try await EdgeTests.get(health)
                return r.json["status"] == .string("ok") && r.json["nodesDown"] == nil
            }
            #expect(f.up.exitCode == nil, "troupe up runs on")
            #expect(f.up.text.components(separatedBy: "node restarted too often").count == 2, "held once")
            await SagaTests.stop(f)
        }
    }
}
