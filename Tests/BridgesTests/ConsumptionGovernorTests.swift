import ActorRuntimeTesting
import ActorRuntime
@testable import Bridges
import Foundation
import Testing

/// A supervisor whose child crashes on request.
final class FlakySupervisor: ActorBehavior {
    enum Message: Sendable { case crashChild }
    var child: ActorRef<FlakyChild.Message>?
    func preStart(context: ActorContext<Message>) async throws {
        child = try context.spawn(Props { FlakyChild() }, name: "worker")
    }
    func receive(_ message: Message, context: ActorContext<Message>) async throws {
        await child?.tell(.crash)
    }
}

final class FlakyChild: ActorBehavior {
    enum Message: Sendable { case crash }
    struct Boom: Error {}
    func receive(_ message: Message, context: ActorContext<Message>) async throws { throw Boom() }
}

@Suite struct ConsumptionGovernorTests {
    @Test func anOpenCircuitBreakerPausesConsumptionUntilItCoolsDown() async throws {
        let f = try await ConsumerFixture()
        let breaker = CircuitBreaker(name: "vendor", configuration: .init(failureThreshold: 1, coolDown: .seconds(2)))
        let governor = ConsumptionGovernor(consumer: f.consumer, breakers: [breaker], interval: .milliseconds(20))
        let governing = Task { await governor.run() }
        struct Down: Error {}
        _ = try? await breaker.run { throw Down() }                                 // trips it
        try await eventually("consumption paused") { !f.consumer.consumer.isConsuming }
        try await f.publish((0..<5).map { orderEnvelope(n: $0) })
        try await eventually("held in the queue") { try f.broker.count(WireTopology.queue(f.broker.component)) == 5 }
        #expect(f.consumer.stats.handled == 0)
        try await eventually("handled after the cool-down") { f.consumer.stats.handled == 5 }
        #expect(f.consumer.stats.pauses == 1)
        #expect(f.consumer.stats.resumes == 1)
        governing.cancel()
        await f.stop()
    }

    @Test func aTreeExceedingItsRestartIntensityPausesConsumptionUntilItIsRestarted() async throws {
        let f = try await ConsumerFixture()
        let system = ActorSystem(name: "governed")
        let sup = try system.spawn(Props(supervision: .oneForOne(maxRestarts: 1, within: .seconds(60))) { FlakySupervisor() }, name: "inventory")
        let governor = ConsumptionGovernor(consumer: f.consumer, system: system, tree: sup.path)
        let governing = Task { await governor.run() }
        await sup.tell(.crashChild)                                                  // restarted: within intensity
        await sup.tell(.crashChild)                                                  // exceeded: the supervisor escalates
        try await eventually("paused and resumed once the guardian restarted the tree") {
            f.consumer.stats.pauses == 1 && f.consumer.stats.resumes == 1
        }
        try await f.publish([orderEnvelope()])
        try await eventually("consuming again") { f.consumer.stats.handled == 1 }
        governing.cancel()
        await system.shutdown()
        await f.stop()
    }
}
