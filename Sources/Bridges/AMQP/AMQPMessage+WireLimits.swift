/// What AMQP 0-9-1 can carry: a publish that breaks one of these limits can never succeed, however often
/// it is retried, so it fails alone (``AMQPPublishRejection``) instead of breaking the connection.
extension AMQPMessage {
    /// Short strings (exchange, routing key, the string properties, table keys) hold at most this many bytes.
    public static let maxShortStringBytes = 255
    /// RabbitMQ's default `max_message_size` (128 MiB): a larger body makes the broker close the channel.
    public static let maxBodyBytes = 134_217_728

    /// Why this message can never be published with `exchange` and `routingKey` on a connection whose
    /// negotiated frame size is `frameMax`; nil when it can.
    public func unpublishableReason(exchange: String, routingKey: String, frameMax: Int) -> String? {
        let limit = Self.maxShortStringBytes
        let shortStrings: [(String, String?)] = [
            ("exchange name", exchange), ("routing key", routingKey), ("content_type", contentType), ("message_id", messageID),
            ("correlation_id", correlationID), ("type", type), ("expiration", expiration),
        ]
        for case let (name, value?) in shortStrings where value.utf8.count > limit {
            return "its \(name) is \(value.utf8.count) bytes; AMQP short strings hold \(limit)"
        }
        if let key = Self.longKey(in: headers) { return "header key '\(key.prefix(40))…' is over \(limit) bytes" }
        if body.count > Self.maxBodyBytes { return "its body is \(body.count) bytes, over the broker's \(Self.maxBodyBytes)" }
        // The content header frame: frame header 7, class 2, weight 2, body size 8, property flags 2, the
        // properties, frame end 1. It must fit in one frame.
        var properties = 1                                                    // delivery_mode
        for case let (_, value?) in shortStrings.dropFirst(2) { properties += 1 + value.utf8.count }
        if timestamp != nil { properties += 8 }
        if !headers.isEmpty { properties += AMQPValue.wireSize(of: headers) }
        let frame = 7 + 14 + properties + 1
        if frame > frameMax {
            return "its properties and headers take a \(frame)-byte header frame, over the connection's frame_max of \(frameMax)"
        }
        return nil
    }

    private static func longKey(in table: [String: AMQPValue]) -> String? {
        for (key, value) in table {
            if key.utf8.count > maxShortStringBytes { return key }
            if let inner = longKey(in: value) { return inner }
        }
        return nil
    }

    private static func longKey(in value: AMQPValue) -> String? {
        switch value {
        case .table(let t): longKey(in: t)
        case .array(let a): a.lazy.compactMap { longKey(in: $0) }.first
        default: nil
        }
    }
}

extension AMQPValue {
    /// Bytes a field table takes on the wire (its 4-byte length included).
    static func wireSize(of table: [String: AMQPValue]) -> Int {
        table.reduce(4) { $0 + 1 + $1.key.utf8.count + $1.value.wireSize }
    }

    /// Bytes this value takes on the wire, its type octet included.
    var wireSize: Int {
        switch self {
        case .string(let s): 1 + 4 + s.utf8.count
        case .bytes(let b): 1 + 4 + b.count
        case .int, .double, .timestamp: 1 + 8
        case .bool: 1 + 1
        case .float: 1 + 4
        case .decimal: 1 + 5
        case .void: 1
        case .table(let t): 1 + Self.wireSize(of: t)
        case .array(let a): 1 + 4 + a.reduce(0) { $0 + $1.wireSize }
        case .sizedInt(_, let kind):
            switch kind {
            case .i8, .u8: 1 + 1
            case .i16, .u16: 1 + 2
            case .i32, .u32: 1 + 4
            case .u64: 1 + 8
            }
        }
    }
}
