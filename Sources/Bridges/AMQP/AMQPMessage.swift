/// A header or argument value in an AMQP table.
public enum AMQPValue: Sendable, Hashable, CustomStringConvertible {
    case string(String)
    case int(Int64)

    public var description: String {
        switch self {
        case .string(let s): s
        case .int(let i): String(i)
        }
    }

    public var stringValue: String? { if case .string(let s) = self { s } else { nil } }
    public var intValue: Int64? { if case .int(let i) = self { i } else { nil } }
}

/// A message as published or delivered: body and the basic properties Troupe uses.
public struct AMQPMessage: Sendable, Equatable {
    public var body: [UInt8]
    public var contentType: String?
    public var messageID: String?
    public var correlationID: String?
    /// The wire contract puts the envelope's topic here.
    public var type: String?
    /// 2 = persistent.
    public var deliveryMode: UInt8
    /// Per-message TTL in milliseconds, as AMQP wants it (a decimal string).
    public var expiration: String?
    /// Seconds since 1970.
    public var timestamp: UInt64?
    public var headers: [String: AMQPValue]

    public init(body: [UInt8], contentType: String? = "application/json", messageID: String? = nil, correlationID: String? = nil,
                type: String? = nil, deliveryMode: UInt8 = 2, expiration: String? = nil, timestamp: UInt64? = nil,
                headers: [String: AMQPValue] = [:]) {
        self.body = body
        self.contentType = contentType
        self.messageID = messageID
        self.correlationID = correlationID
        self.type = type
        self.deliveryMode = deliveryMode
        self.expiration = expiration
        self.timestamp = timestamp
        self.headers = headers
    }
}

/// A message the broker delivered to a consumer; ack or reject it by `tag`.
public struct AMQPDelivery: Sendable {
    public let tag: UInt64
    public let redelivered: Bool
    public let exchange: String
    public let routingKey: String
    public let message: AMQPMessage
    /// Which connection delivered it: tags are only valid on that connection.
    public let generation: Int
}
