/// A header or argument value in an AMQP field table, of any type the wire carries, so a message copied
/// (retried, dead-lettered, replayed) keeps the headers it came with exactly: `x-death`'s tables and arrays,
/// booleans, floats, integers of every width.
public enum AMQPValue: Sendable, Hashable, CustomStringConvertible {
    /// A long string (`S`).
    case string(String)
    /// A 64-bit signed integer (`l`), what Troupe writes.
    case int(Int64)
    case bool(Bool)
    case double(Double)
    case float(Float)
    /// `value` / 10^`scale`.
    case decimal(scale: UInt8, value: UInt32)
    /// Seconds since 1970 (`T`).
    case timestamp(UInt64)
    /// A byte array (`x`).
    case bytes([UInt8])
    case table([String: AMQPValue])
    case array([AMQPValue])
    case void
    /// An integer of another width than `int`'s, kept with its kind so a copy sends the same type
    /// (a `u64` holds its bit pattern).
    case sizedInt(Int64, kind: IntegerKind)

    /// The integer field kinds other than 64-bit signed, by their rabbitmq-c type octet.
    public enum IntegerKind: UInt8, Sendable, Hashable {
        case i8 = 0x62, u8 = 0x42, i16 = 0x73, u16 = 0x75, i32 = 0x49, u32 = 0x69, u64 = 0x4C
    }

    public var description: String {
        switch self {
        case .string(let s): s
        case .int(let i), .sizedInt(let i, _): String(i)
        case .bool(let b): String(b)
        case .double(let d): String(d)
        case .float(let f): String(f)
        case .decimal(let scale, let value): "\(value)e-\(scale)"
        case .timestamp(let t): "@\(t)"
        case .bytes(let b): "<\(b.count) bytes>"
        case .table(let t): "{" + t.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + "}"
        case .array(let a): "[" + a.map(\.description).joined(separator: ", ") + "]"
        case .void: "void"
        }
    }

    public var stringValue: String? { if case .string(let s) = self { s } else { nil } }
    /// The value of an integer of any width.
    public var intValue: Int64? {
        switch self {
        case .int(let i): i
        case .sizedInt(let i, let kind): kind == .u64 && i < 0 ? Int64.max : i
        default: nil
        }
    }
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
