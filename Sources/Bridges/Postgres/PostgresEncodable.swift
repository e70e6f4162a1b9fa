import ActorRuntime
import Foundation

/// A value that can be bound to a statement parameter (`$1`, `$2`, ...). Parameters travel in text
/// format, separately from the SQL, so values are never spliced into statements.
public protocol PostgresEncodable: Sendable {
    /// The text form PostgreSQL parses for the parameter's type; nil is SQL NULL.
    var postgresText: String? { get }
}

extension String: PostgresEncodable { public var postgresText: String? { self } }
extension Int: PostgresEncodable { public var postgresText: String? { String(self) } }
extension Int32: PostgresEncodable { public var postgresText: String? { String(self) } }
extension Int64: PostgresEncodable { public var postgresText: String? { String(self) } }
extension Double: PostgresEncodable { public var postgresText: String? { "\(self)" } }
extension Bool: PostgresEncodable { public var postgresText: String? { self ? "t" : "f" } }
extension Decimal: PostgresEncodable { public var postgresText: String? { "\(self)" } }
extension UUID: PostgresEncodable { public var postgresText: String? { lowercasedString } }

extension Date: PostgresEncodable {
    /// ISO-8601 with microseconds and `Z`, which `timestamptz` reads exactly.
    public var postgresText: String? { PostgresTime.format(self) }
}

/// `bytea` parameters, in PostgreSQL's hex format.
public struct PostgresBytes: PostgresEncodable, Hashable {
    public var bytes: [UInt8]
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public var postgresText: String? { PostgresHex.encode(bytes) }
}

extension JSONValue: PostgresEncodable {
    /// JSON text, for `json`/`jsonb` parameters.
    public var postgresText: String? { String(decoding: jsonBytes, as: UTF8.self) }
}

extension Optional: PostgresEncodable where Wrapped: PostgresEncodable {
    public var postgresText: String? { self?.postgresText }
}
