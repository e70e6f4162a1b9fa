/// Thrown by ``AMQPPublisher/publish(_:)`` when some of its messages can never be published (see
/// ``AMQPMessage/unpublishableReason(exchange:routingKey:frameMax:)``), once every other message of the
/// call was confirmed: the caller keeps the rejected ones with their reasons (an outbox moves its rows to
/// `troupe_outbox_dead`) instead of retrying them.
public struct AMQPPublishRejection: Error, Sendable, CustomStringConvertible {
    /// Why, by the message's index in the call.
    public let reasons: [Int: String]

    public init(reasons: [Int: String]) { self.reasons = reasons }

    public var description: String {
        "\(reasons.count) message(s) can never be published: "
            + reasons.sorted { $0.key < $1.key }.map { "#\($0.key): \($0.value)" }.joined(separator: "; ")
    }
}
