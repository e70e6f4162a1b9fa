/// The six business components of the brief, by their fixed kebab-case names. The name is also the
/// component's `producerId` in envelopes and the root of its AMQP queue names.
public enum Component: String, CaseIterable, Sendable, Codable, CustomStringConvertible {
    case orderQueue = "order-queue"
    case brandSync = "brand-sync"
    case inventory
    case payment
    case notification
    case analytics

    /// The durable queue the component's instances compete on: `troupe.<component>`.
    public var queueName: String { "troupe.\(rawValue)" }

    /// Where messages it can never handle end up: `troupe.<component>.dead`.
    public var deadQueueName: String { "troupe.\(rawValue).dead" }

    public var description: String { rawValue }
}
