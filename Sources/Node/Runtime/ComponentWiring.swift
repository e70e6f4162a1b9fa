import ActorRuntime
import Bridges
import Domain

/// What a node runs for one hosted component: the topics its queue is bound to, the handler of the
/// envelopes that arrive there, and the prepare step for outside calls. An envelope whose topic the
/// component does not handle is dead-lettered with a reason (a permanent failure), never dropped.
struct ComponentWiring: Sendable {
    var topics: [String]
    var handler: EnvelopeConsumer.Handler
    var prepare: EnvelopeConsumer.Prepare?

    init(_ router: TopicRouter) {
        topics = router.topics
        prepare = router.prepare
        handler = router.handler
    }

    /// Declares the queues of every component `topology` hosts, on whichever node (bindings, retry and
    /// dead queues): each publisher does this when it connects, so an envelope published before the node
    /// consuming it first ran lands in its queue instead of being routed nowhere, which the broker
    /// confirms and drops.
    static func declareEveryQueue(of topology: Topology, on connection: AMQPConnection) throws {
        let vendor = VendorSteps(adapter: nil, breaker: CircuitBreaker(name: "topics only"), orders: nil)
        let wire = topology.broker.wire
        var seen = Set<Component>()
        for hosted in topology.nodes.flatMap(\.components) where seen.insert(hosted.component).inserted {
            let topics = hosted.component == .notification ? Notification.topics : of(hosted.component, vendor: vendor).topics
            try wire.declare(component: hosted.component.rawValue, topics: topics, on: connection)
        }
    }

    /// The wiring of `component` on a node. `vendor` serves OrderQueue's vendor steps (one breaker per
    /// node, shared by its instances); `notification` Notification's (its templates and channels; without
    /// them Notification binds nothing). Components without flows yet consume their queue (bound to
    /// nothing) and dead-letter anything sent to it directly.
    static func of(_ component: Component, vendor: VendorSteps, reservationTTL: Duration = Inventory.reservationTTL,
                   notification: Notification.Settings? = nil) -> ComponentWiring {
        switch component {
        case .orderQueue: ComponentWiring(OrderSaga.router(vendor: vendor))
        case .inventory: ComponentWiring(Inventory.router(reservationTTL: reservationTTL))
        case .payment: ComponentWiring(Payment.router)
        case .analytics: ComponentWiring(Analytics.router)
        case .notification: ComponentWiring(notification.map(Notification.router) ?? TopicRouter(component, [:]))
        case .brandSync: ComponentWiring(TopicRouter(component, [:]))
        }
    }
}
