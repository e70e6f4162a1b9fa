import ActorRuntimeTesting
@testable import Bridges
import Testing

/// A declaration the broker refuses (a queue that exists with other arguments) is a configuration error,
/// not a lost connection: the publisher says so, keeps retrying, and clears it once the broker accepts.
@Suite struct PublisherRefusalTests {
    @Test func aRefusedDeclarationIsReportedUntilTheBrokerAcceptsIt() async throws {
        let broker = TestBroker()
        defer { broker.cleanUp() }
        try broker.declare(topics: [])                               // its dead queue keeps letters 14 days
        var changed = broker.topology
        changed.deadRetention = .seconds(86_400)                      // topology.json now says 1 day
        let component = broker.component, dead = WireTopology.deadQueue(broker.component), wire = changed
        let publisher = try AMQPPublisher(url: TestBroker.url, name: "refusal-test") { try wire.declare(component: component, topics: [], on: $0) }
        try await eventually("the refusal reported") { publisher.refusal != nil }
        #expect(publisher.refusal?.code == 406)
        #expect(publisher.refusal?.message.contains(dead) == true, "\(publisher.refusal?.message ?? "")")
        #expect(!publisher.isConnected)

        try broker.connection().deleteQueue(dead)                     // the operator's way out
        try await eventually("connected once the broker accepts") { publisher.isConnected && publisher.refusal == nil }
        await publisher.close()
    }
}
