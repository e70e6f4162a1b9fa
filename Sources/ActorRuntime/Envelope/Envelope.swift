import Foundation

/// The message envelope of the brief's fixed contract (lomash-wood event bus):
/// `{ id, topic, version, timestamp, producerId, correlationId, payload }`.
///
/// `id` is a UUIDv7 made by the producer and is the idempotency key consumers deduplicate on.
public struct Envelope: Sendable, Hashable {
    /// Idempotency key, a UUIDv7.
    public var id: UUID
    /// Routing key, e.g. `order.created`.
    public var topic: String
    /// Schema version of the payload for this topic.
    public var version: Int
    /// When the producer made the event (millisecond precision in JSON).
    public var timestamp: Date
    /// Kebab-case name of the producing component, e.g. `order-queue`.
    public var producerId: String
    /// Ties the event back to the request that caused it.
    public var correlationId: String
    /// Topic-specific body; always a JSON object.
    public var payload: JSONValue

    /// The versions consumers accept unless they say otherwise.
    public static let supportedVersions: Set<Int> = [1]

    public init(id: UUID = .v7(), topic: String, version: Int = 1, timestamp: Date = Date(),
                producerId: String, correlationId: String, payload: JSONValue = .object([:])) {
        self.id = id
        self.topic = topic
        self.version = version
        self.timestamp = timestamp
        self.producerId = producerId
        self.correlationId = correlationId
        self.payload = payload
    }
}

extension Envelope {
    /// The envelope as UTF-8 JSON with the contract's field names (keys sorted, compact).
    public func jsonData() -> Data { Data(jsonBytes()) }

    /// The envelope as UTF-8 JSON bytes, written directly (no intermediate dictionary or `Encoder`).
    public func jsonBytes() -> [UInt8] {
        var w = JSONWriter(capacity: 256)
        w.beginObject()
        w.member("correlationId", .string(correlationId))
        w.member("id", plain: id.lowercasedString)
        w.member("payload", payload)
        w.member("producerId", .string(producerId))
        w.member("timestamp", plain: Timestamp.format(timestamp))
        w.member("topic", .string(topic))
        w.member("version", .number(Double(version)))
        w.endObject()
        return w.bytes
    }

    /// Decodes and validates an envelope, naming the field at fault when it cannot: a missing or mistyped
    /// field, an unknown version, a value over the wire limits (``problem(correlationId:)``,
    /// ``problem(topic:)``) or a string holding NUL anywhere (PostgreSQL cannot store it).
    /// - Parameter supportedVersions: versions the consumer understands; others are rejected.
    public static func decode(_ data: some ContiguousBytes, supportedVersions: Set<Int> = Envelope.supportedVersions) throws(EnvelopeError) -> Envelope {
        let root: JSONValue
        do { root = try JSONValue(parsing: data) } catch {
            throw EnvelopeError(.malformedJSON, field: "", "body is not valid JSON (\(error))")
        }
        guard case .object(let o) = root else {
            throw EnvelopeError(.wrongType, field: "", "envelope must be a JSON object")
        }
        func present(_ key: String) throws(EnvelopeError) -> JSONValue {
            guard let v = o[key], v != .null else { throw EnvelopeError(.missingField, field: key, "is required") }
            return v
        }
        func string(_ key: String) throws(EnvelopeError) -> String {
            guard case .string(let s) = try present(key) else { throw EnvelopeError(.wrongType, field: key, "must be a string") }
            guard !s.isEmpty else { throw EnvelopeError(.invalidValue, field: key, "must not be empty") }
            guard !s.utf8.contains(0) else { throw EnvelopeError(.invalidValue, field: key, "must not contain NUL (\\u0000)") }
            return s
        }
        let idText = try string("id")
        guard let id = UUID(text: idText) else { throw EnvelopeError(.invalidValue, field: "id", "is not a UUID") }
        guard id.version == 7 else { throw EnvelopeError(.invalidValue, field: "id", "must be a UUIDv7, got version \(id.version)") }
        let topic = try string("topic")
        if let problem = problem(topic: topic) { throw EnvelopeError(.invalidValue, field: "topic", problem) }
        guard case .number(let number) = try present("version"), number.rounded() == number, abs(number) < 1e9 else {
            throw EnvelopeError(.wrongType, field: "version", "must be an integer")
        }
        let version = Int(number)
        guard supportedVersions.contains(version) else {
            throw EnvelopeError(.unsupportedVersion, field: "version",
                                "\(version) is not supported (supported: \(supportedVersions.sorted().map(String.init).joined(separator: ", ")))")
        }
        let timestampText = try string("timestamp")
        guard let timestamp = Timestamp.parse(timestampText) else {
            throw EnvelopeError(.invalidValue, field: "timestamp", "is not an ISO-8601 date-time")
        }
        let producerId = try string("producerId")
        let correlationId = try string("correlationId")
        if let problem = problem(correlationId: correlationId) { throw EnvelopeError(.invalidValue, field: "correlationId", problem) }
        let payload = try present("payload")
        guard payload.isObject else { throw EnvelopeError(.wrongType, field: "payload", "must be a JSON object") }
        if let path = payload.pathOfStringWithNUL(at: "payload") {
            throw EnvelopeError(.invalidValue, field: path, "must not contain NUL (\\u0000)")
        }
        return Envelope(id: id, topic: topic, version: version, timestamp: timestamp,
                        producerId: producerId, correlationId: correlationId, payload: payload)
    }
}

extension Envelope {
    /// The most bytes of `topic` and `correlationId`: both travel as AMQP short strings (the routing key
    /// and `type`; `correlation_id`).
    public static let maxShortFieldBytes = 255

    /// Why `correlationId` cannot travel, or nil: 1 to 255 bytes of visible ASCII (it is also an AMQP
    /// property, a log field and an HTTP header).
    public static func problem(correlationId: String) -> String? {
        let bytes = correlationId.utf8
        if bytes.isEmpty { return "must not be empty" }
        if bytes.count > maxShortFieldBytes { return "is \(bytes.count) bytes; at most \(maxShortFieldBytes) are allowed" }
        if !bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) { return "must be visible ASCII characters only (no spaces or control characters)" }
        return nil
    }

    /// Why `topic` cannot be a routing key, or nil: 1 to 255 bytes of UTF-8, no NUL.
    public static func problem(topic: String) -> String? {
        let bytes = topic.utf8
        if bytes.isEmpty { return "must not be empty" }
        if bytes.count > maxShortFieldBytes { return "is \(bytes.count) bytes; at most \(maxShortFieldBytes) are allowed" }
        if bytes.contains(0) { return "must not contain NUL (\\u0000)" }
        return nil
    }
}

extension JSONValue {
    /// The path (`payload.items[0].sku`) of the first string, key or value, holding NUL; nil if none does.
    func pathOfStringWithNUL(at path: String) -> String? {
        switch self {
        case .string(let s): return s.utf8.contains(0) ? path : nil
        case .array(let a):
            for (i, v) in a.enumerated() { if let p = v.pathOfStringWithNUL(at: "\(path)[\(i)]") { return p } }
            return nil
        case .object(let o):
            for (k, v) in o {
                if k.utf8.contains(0) { return path }
                if let p = v.pathOfStringWithNUL(at: "\(path).\(k)") { return p }
            }
            return nil
        default: return nil
        }
    }
}
