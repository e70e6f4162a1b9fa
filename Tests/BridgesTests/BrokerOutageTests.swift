import ActorRuntimeTesting
import ActorRuntime
@testable import Bridges
import Foundation
import Glibc
import Testing

/// The broker's connections are force-closed, and then the broker is restarted, while envelopes
/// stream through a consumer: every confirmed envelope is handled, its effects exactly once.
///
/// This disturbs every connection to the broker, so it runs alone: `scripts/test.sh` runs it in a
/// second pass with TROUPE_OUTAGE_TESTS=1 (it is skipped otherwise).
@Suite(.enabled(if: ProcessInfo.processInfo.environment["TROUPE_OUTAGE_TESTS"] == "1", "runs alone: TROUPE_OUTAGE_TESTS=1"))
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
}
