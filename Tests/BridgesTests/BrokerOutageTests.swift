import ActorRuntimeTesting
import ActorRuntime
@testable import Bridges
import Foundation
import Glibc
import Testing

/// The broker's connections are force-closed, and then the broker is restarted, while envelopes
/// stream through a consumer: every confirmed envelope is handled, its effects exactly once. And the
/// broker's memory alarm blocks publishing: publishers wait, say why, resume, and close without hanging.
///
/// These disturb every connection to the broker, so they run alone and one at a time: `scripts/test.sh`
/// runs them in a second pass with TROUPE_OUTAGE_TESTS=1 (they are skipped otherwise).
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["TROUPE_OUTAGE_TESTS"] == "1", "runs alone: TROUPE_OUTAGE_TESTS=1"))
struct BrokerOutageTests {
    static let services = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/services.sh").path

    /// Runs scripts/services.sh with `args` and waits for it (posix_spawn + waitpid: Foundation's
    /// Process missed this child's exit here while the broker restarted).
    static func services(_ args: String...) throws {
        let argv = (["/bin/bash", services] + args).map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var pid: pid_t = 0
        guard posix_spawn(&pid, "/bin/bash", nil, nil, argv, environ) == 0 else { throw TestKitError("could not spawn services.sh") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        guard status == 0 else { throw TestKitError("services.sh \(args) exited with status \(status)") }
    }

    @Test func everyConfirmedEnvelopeIsHandledExactlyOnceAcrossAClosedConnectionAndABrokerRestart() async throws {
        // A handler slow enough (2 ms an envelope) that a backlog is queued when the broker goes away.
        let f = try await ConsumerFixture(batchSize: 32) { envelope, context in
            usleep(2000)
            try ConsumerFixture.recordEffect(envelope, context)
        }
        let envelopes = (0..<2000).map { orderEnvelope(n: $0) }
        func publish(_ range: Range<Int>) async throws {
            for chunk in stride(from: range.lowerBound, to: range.upperBound, by: 50) {
                try await f.publish(Array(envelopes[chunk..<min(chunk + 50, range.upperBound)]))   // returns once confirmed
            }
        }
        try await publish(0..<500)
        try await DedicatedThread.run("test.services") { try Self.services("rabbitmqctl", "close_all_connections", "troupe outage test") }
        try await publish(500..<1000)                       // the publisher reconnects; the consumer too
        try await publish(1000..<1500)
        try await DedicatedThread.run("test.services") { try Self.services("restart-rabbitmq") }   // confirmed = persisted: they survive
        try await publish(1500..<2000)
        try await eventually("every envelope handled", timeout: .seconds(120)) { try await f.effectCount() == 2000 }
        let distinct = try await f.pool.withConnection {
            try $0.query("SELECT count(DISTINCT envelope_id) AS n FROM effects").rows[0].decode("n", as: Int.self)
        }
        #expect(distinct == 2000, "each effect once")
        #expect(f.publisher.reconnects >= 2)
        #expect(f.consumer.consumer.reconnects >= 2)
        #expect(f.consumer.stats.deadLettered == 0)
        await f.stop()
    }

    /// Sets the broker's memory high watermark: 0 raises the memory alarm at once (the broker blocks
    /// publishing connections); 0.4, RabbitMQ's default (services.sh sets none), clears it.
    static func memoryHighWatermark(_ fraction: String) async throws {
        try await DedicatedThread.run("test.services") { try Self.services("rabbitmqctl", "set_vm_memory_high_watermark", fraction) }
    }

    /// Closes `publisher`; a close that does not return fails the test instead of hanging it.
    static func close(_ publisher: AMQPPublisher) async throws {
        let closed = AwaitableQueue<Bool>()
        Task { await publisher.close(); closed.append(true) }
        guard await closed.next(within: .seconds(20)) != nil else { throw TestKitError("closing a blocked publisher did not return in 20 s") }
    }

    @Test func publishersWaitWhileTheBrokerBlocksPublishingAndCloseWithoutHanging() async throws {
        let message = AMQPMessage(body: Array("blocked?".utf8))
        let queue = "troupe.test-blocked-" + UUID().uuidString.prefix(8).lowercased()   // none: the default exchange drops it, and confirms
        let publisher = try AMQPPublisher(url: TestBroker.url, name: "test.blocked")
        try await publisher.publish(exchange: "", routingKey: queue, message)
        #expect(publisher.blocked == nil)

        try await Self.memoryHighWatermark("0")
        let waiting: Task<Void, any Error>
        do {
            waiting = Task { try await publisher.publish(exchange: "", routingKey: queue, message) }
            try await eventually("the publisher seeing connection.blocked") { publisher.blocked != nil }
            #expect(publisher.blocked?.contains("memory") == true, "\(publisher.blocked ?? "nil")")

            // A node shutting down stops waiting: what waits fails (an outbox would publish it later), and so does
            // a new publish, at once; then the publisher closes without hanging on the blocked connection.
            let shutting = try AMQPPublisher(url: TestBroker.url, name: "test.blocked.shutting")
            let first = Task { try await shutting.publish(exchange: "", routingKey: queue, message) }
            try await eventually("the second publisher seeing connection.blocked") { shutting.blocked != nil }
            let held = Task { try await shutting.publish(exchange: "", routingKey: queue, message) }
            shutting.stopWaitingForTheBroker()
            await #expect(throws: AMQPError.self) { try await held.value }
            await #expect(throws: AMQPError.self) { try await shutting.publish(exchange: "", routingKey: queue, message) }
            _ = await first.result                           // sent before the block: confirmed or failed, either is fine
            try await Self.close(shutting)

            // A publisher closed while blocked fails what waits, rather than wait for the alarm to clear.
            let closing = try AMQPPublisher(url: TestBroker.url, name: "test.blocked.closing")
            let trigger = Task { try await closing.publish(exchange: "", routingKey: queue, message) }
            try await eventually("the third publisher seeing connection.blocked") { closing.blocked != nil }
            let waitingToo = Task { try await closing.publish(exchange: "", routingKey: queue, message) }
            try await Self.close(closing)
            await #expect(throws: AMQPError.self) { try await waitingToo.value }
            _ = await trigger.result
        } catch {
            try? await Self.memoryHighWatermark("0.4")
            throw error
        }

        // The alarm clears: the waiting publish is confirmed, and the publisher says it is no longer blocked.
        try await Self.memoryHighWatermark("0.4")
        try await waiting.value
        try await eventually("the publisher seeing connection.unblocked") { publisher.blocked == nil }
        try await publisher.publish(exchange: "", routingKey: queue, message)
        #expect(publisher.confirmed == 3)
        await publisher.close()
    }
}
