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

        @Test func aMessageThatCrashesItsNodeIsDeadLetteredAfterThreeCrashesAndTheNodeRunsOn() async throws {
            let db = PrivateSchema()
            let topology = try CLI.writeTopology("""
                { "broker": { "url": "\(Edge.amqpURL)", "quarantineAfter": 3 }, "database": { "url": "\(Edge.databaseURL)", "schema": "\(db.name)" },
                  "security": { "apiKeySecret": "\(Edge.secret)" },
                  "nodes": [ { "name": "all", "components": [ { "name": "order-queue" }, { "name": "inventory" }, { "name": "payment" },
                                                              { "name": "notification" }, { "name": "analytics" }, { "name": "brand-sync" } ] } ] }
                """)
            let env = NodeRuntimeTests.env.merging(["TROUPE_TEST_CRASH_HOOK": "1"]) { _, new in new }
            let up = try NodeProcess(["up", "--topology", topology], environment: env)
            defer { up.kill() }
            try await up.waitFor("node started")

            let published = try await CLI.run(["publish", "inventory.reserve", #"{"orderId": "00000000-0000-7000-8000-000000000001", "troupeTestCrash": true}"#,
                                               "--topology", topology], environment: NodeRuntimeTests.env)
            #expect(published.code == 0, "\(published.err)")
            let id = published.out.trimmingCharacters(in: .whitespacesAndNewlines)

            // It crashes the node three times (troupe up restarts it each time), then is dead-lettered with the reason.
            try await up.eventually("the message dead-lettered as a crasher", timeout: .seconds(90)) {
                let list = try await CLI.run(["dlq", "list", "inventory", "--topology", topology], environment: NodeRuntimeTests.env)
                return list.out.split(separator: "\n").contains { $0.hasPrefix(id) && $0.contains("crashed the consumer 3 times") }
            }
            let restarts = up.text.components(separatedBy: "node exited abnormally; restarting").count - 1
            #expect(restarts == 3, "troupe up restarted the node \(restarts) times")
            #expect(up.text.contains("TROUPE_TEST_CRASH_HOOK: crashing on envelope \(id)"), "the hook's trap crashed it")
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
    }
}
