import Domain
import Testing

@Suite struct ComponentTests {
    @Test func namesAreTheBriefsKebabCaseNames() {
        #expect(Component.allCases.map(\.rawValue) == ["order-queue", "brand-sync", "inventory", "payment", "notification", "analytics"])
    }

    @Test func queueNamesFollowTheWireContract() {
        #expect(Component.inventory.queueName == "troupe.inventory")
        #expect(Component.orderQueue.deadQueueName == "troupe.order-queue.dead")
    }
}
