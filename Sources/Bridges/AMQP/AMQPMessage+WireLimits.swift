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
        // Written out property by property: this runs once per message, on a path that allocates nothing.
        let limit = Self.maxShortStringBytes
        func over(_ name: String, _ value: String?) -> String? {
            guard let n = value?.utf8.count, n > limit else { return nil }
            return "its \(name) is \(n) bytes; AMQP short strings hold \(limit)"
        }
        if let why = over("exchange name", exchange) ?? over("routing key", routingKey) ?? over("content_type", contentType)
            ?? over("message_id", messageID) ?? over("correlation_id", correlationID) ?? over("type", type) ?? over("expiration", expiration) {
            return why
        }
        if !headers.isEmpty, let key = Self.longKey(in: headers) { return "header key '\(key.prefix(40))…' is over \(limit) bytes" }
        if body.count > Self.maxBodyBytes { return "its body is \(body.count) bytes, over the broker's \(Self.maxBodyBytes)" }
        // The content header frame: frame header 7, class 2, weight 2, body size 8, property flags 2, the
        // properties, frame end 1. It must fit in one frame.
        func short(_ value: String?) -> Int { value.map { 1 + $0.utf8.count } ?? 0 }
        var properties = 1                                                    // delivery_mode
        properties += short(contentType) + short(messageID) + short(correlationID) + short(type) + short(expiration)
        if timestamp != nil { properties += 8 }
        if !headers.isEmpty { properties += AMQPValue.wireSize(of: headers) }
        let frame = 7 + 14 + properties + 1
        if frame > frameMax {
            return "its properties and headers take a \(frame)-byte header frame, over the connection's frame_max of \(frameMax)"
        }
        return nil
    }

    /// This message with every string property the wire cannot carry (over 255 bytes) removed, and what
    /// was removed; for a copy that must go out whatever it came with.
    func droppingLongProperties() -> (AMQPMessage, dropped: [String]) {
        var m = self
        var dropped: [String] = []
        func check(_ name: String, _ value: inout String?) {
            if let v = value, v.utf8.count > Self.maxShortStringBytes { value = nil; dropped.append(name) }
        }
        check("content_type", &m.contentType)
        check("message_id", &m.messageID)
        check("correlation_id", &m.correlationID)
        check("type", &m.type)
        check("expiration", &m.expiration)
        return (m, dropped)
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
