import ActorRuntime
import Foundation

/// The body of `POST /v1/analytics/track` (anonymous tracking, as the reference's GTM beacon):
/// `{event, properties, sessionId, pageUrl, referrer}`, checked field by field so that a stored batch can
/// never fail on one row: the error names the field.
public struct TrackedEvent: Sendable, Equatable {
    public let event: String
    public let properties: JSONValue
    public let sessionId: String?
    public let pageUrl: String?
    public let referrer: String?

    /// Largest body accepted (bigger: 413).
    public static let maxBodyBytes = 8 * 1024
    public static let maxEventBytes = 100
    public static let maxSessionBytes = 128
    public static let maxURLBytes = 2048

    public struct Problem: Error, Equatable, CustomStringConvertible {
        public let field: String?
        public let message: String
        public var description: String { field.map { "\($0): \(message)" } ?? message }
    }

    public init(event: String, properties: JSONValue = .object([:]), sessionId: String? = nil, pageUrl: String? = nil, referrer: String? = nil) {
        self.event = event
        self.properties = properties
        self.sessionId = sessionId
        self.pageUrl = pageUrl
        self.referrer = referrer
    }

    public static func parse(_ body: [UInt8]) throws(Problem) -> TrackedEvent {
        let json: JSONValue
        do { json = try JSONValue(parsing: body) } catch { throw Problem(field: nil, message: "the body is not valid JSON (\(error))") }
        guard case .object(let o) = json else { throw Problem(field: nil, message: "the body must be a JSON object") }
        let known: Set = ["event", "properties", "sessionId", "pageUrl", "referrer"]
        if let unknown = o.keys.sorted().first(where: { !known.contains($0) }) { throw Problem(field: unknown, message: "unknown field") }
        func text(_ key: String, max: Int) throws(Problem) -> String? {
            guard let v = o[key], v != .null else { return nil }
            guard case .string(let s) = v else { throw Problem(field: key, message: "must be a string") }
            guard s.utf8.count <= max else { throw Problem(field: key, message: "must be at most \(max) bytes of UTF-8") }
            guard !s.utf8.contains(0) else { throw Problem(field: key, message: "must not contain NUL (\\u0000)") }
            return s
        }
        guard let event = try text("event", max: maxEventBytes), !event.isEmpty else { throw Problem(field: "event", message: "is required") }
        guard event.utf8.allSatisfy(isNameByte) else {
            throw Problem(field: "event", message: "must be letters, digits and _ . : - only (e.g. product_viewed)")
        }
        let properties = o["properties"] ?? .object([:])
        guard properties.isObject || properties == .null else { throw Problem(field: "properties", message: "must be an object") }
        if let path = nulPath(properties, at: "properties") { throw Problem(field: path, message: "must not contain NUL (\\u0000)") }
        return TrackedEvent(event: event, properties: properties == .null ? .object([:]) : properties,
                            sessionId: try text("sessionId", max: maxSessionBytes), pageUrl: try text("pageUrl", max: maxURLBytes),
                            referrer: try text("referrer", max: maxURLBytes))
    }

    private static func isNameByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b == 0x5f || b == 0x2e || b == 0x3a || b == 0x2d
    }

    /// Where a NUL hides in `value` (PostgreSQL's jsonb cannot store one), as a path; nil if nowhere.
    private static func nulPath(_ value: JSONValue, at path: String) -> String? {
        switch value {
        case .string(let s): return s.utf8.contains(0) ? path : nil
        case .array(let a): return a.indices.lazy.compactMap { nulPath(a[$0], at: "\(path)[\($0)]") }.first
        case .object(let o):
            guard o.contains(where: { $0.key.utf8.contains(0) || nulPath($0.value, at: "") != nil }) else { return nil }
            for (k, v) in o.sorted(by: { $0.key < $1.key }) {           // sorted only to name the first one found
                if k.utf8.contains(0) { return path }
                if let p = nulPath(v, at: "\(path).\(k)") { return p }
            }
            return nil
        default: return nil
        }
    }
}
