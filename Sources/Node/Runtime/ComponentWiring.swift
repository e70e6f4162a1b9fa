import ActorRuntime
import Bridges
import Domain

/// What a node runs for one hosted component: the topics its queue is bound to, and the handler of the
/// envelopes that arrive there. An envelope whose topic the component does not handle is dead-lettered
/// with a reason (a permanent failure), never dropped.
struct ComponentWiring: Sendable {
    var topics: [String]
    var handler: EnvelopeConsumer.Handler

    /// The wiring of `component`. Components gain topics as their flows land; until then a component
    /// consumes its queue (bound to nothing) and dead-letters anything sent to it directly.
    static func of(_ component: Component) -> ComponentWiring {
        ComponentWiring(topics: []) { envelope, _ in throw UnhandledTopic(component: component, topic: envelope.topic) }
    }
}

/// An envelope reached a component that has no handler for its topic.
struct UnhandledTopic: ClassifiedError, CustomStringConvertible {
    let component: Component
    let topic: String
    var disposition: FailureDisposition { .permanent }
    var description: String { "\(component) has no handler for topic '\(topic)'" }
}
