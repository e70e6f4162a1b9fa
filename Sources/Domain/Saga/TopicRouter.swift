import ActorRuntime
import Bridges

/// A component's handlers by topic, as one `EnvelopeConsumer.Handler`: the topics are what its queue
/// binds; an envelope on any other topic is a permanent failure, dead-lettered with the reason. A route
/// for ``everyTopic`` (`#`) takes whatever has no route of its own.
public struct TopicRouter: Sendable {
    /// The binding that matches every routing key.
    public static let everyTopic = "#"

    public let component: Component
    private let routes: [String: EnvelopeConsumer.Handler]
    /// The consumer's prepare step (outside calls before the transaction), if the component has one.
    public let prepare: EnvelopeConsumer.Prepare?

    public init(_ component: Component, _ routes: [String: EnvelopeConsumer.Handler], prepare: EnvelopeConsumer.Prepare? = nil) {
        self.component = component
        self.routes = routes
        self.prepare = prepare
    }

    public var topics: [String] { routes.keys.sorted() }

    public var handler: EnvelopeConsumer.Handler {
        let routes = self.routes, component = self.component
        return { envelope, context in
            guard let route = routes[envelope.topic] ?? routes[Self.everyTopic] else { throw UnhandledTopic(component: component, topic: envelope.topic) }
            try route(envelope, context)
        }
    }
}

/// An envelope reached a component that has no handler for its topic.
public struct UnhandledTopic: ClassifiedError, CustomStringConvertible {
    public let component: Component
    public let topic: String
    public var disposition: FailureDisposition { .permanent }
    public var description: String { "\(component) has no handler for topic '\(topic)'" }
}
