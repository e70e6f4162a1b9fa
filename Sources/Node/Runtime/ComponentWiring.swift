import ActorRuntime
import Bridges
import Domain

/// What a node runs for one hosted component: the topics its queue is bound to, and the handler of the
/// envelopes that arrive there. An envelope whose topic the component does not handle is dead-lettered
/// with a reason (a permanent failure), never dropped.
struct ComponentWiring: Sendable {
    var topics: [String]
    var handler: EnvelopeConsumer.Handler

    init(_ router: TopicRouter) {
        topics = router.topics
        handler = router.handler
    }

    /// The wiring of `component`. Components without flows yet consume their queue (bound to nothing)
    /// and dead-letter anything sent to it directly.
    static func of(_ component: Component) -> ComponentWiring {
        switch component {
        case .orderQueue: ComponentWiring(OrderSaga.router)
        case .inventory: ComponentWiring(Inventory.router)
        case .payment: ComponentWiring(Payment.router)
        case .brandSync, .notification, .analytics: ComponentWiring(TopicRouter(component, [:]))
        }
    }
}
