import ActorRuntimeTesting
import ActorRuntime
@testable import Bridges
import Foundation
import Synchronization
import Testing

@Suite struct PrepareBatchTests {
    @Test func everyDeliveryOfABigBatchGetsItsPreparedValue() async throws {
        let missing = Mutex(0)
        let f = try await ConsumerFixture(handler: { envelope, context in
            if context.prepared?["id"] != .string(envelope.id.lowercasedString) { missing.withLock { $0 += 1 } }
            try context.db.query("INSERT INTO effects (envelope_id, topic) VALUES ($1, $2)", [envelope.id, envelope.topic])
        }, prepare: { envelope, _ in
            try await Task.sleep(for: .milliseconds(Int.random(in: 1...30)))
            return .object(["id": .string(envelope.id.lowercasedString)])
        })
        try await f.publish((0..<500).map { orderEnvelope(n: $0) })
        try await eventually("500 handled") { f.consumer.stats.handled == 500 }
        #expect(missing.withLock { $0 } == 0)
        await f.stop()
    }
}
