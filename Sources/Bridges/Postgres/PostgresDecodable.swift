import ActorRuntime
import Foundation

/// A type a column can be decoded as, from PostgreSQL's text format.
public protocol PostgresDecodable: Sendable {
    /// Decodes a non-NULL value; `column` is for the error.
    static func decode(postgresText text: String, column: String) throws(PostgresError) -> Self
    /// What a NULL becomes: an error, except for optionals.
    static func decodeNull(column: String) throws(PostgresError) -> Self
}

extension PostgresDecodable {
    public static func decodeNull(column: String) throws(PostgresError) -> Self {
        throw PostgresError(.decoding, "is NULL, expected \(Self.self)", column: column)
    }

    static func mismatch(_ text: String, _ column: String) -> PostgresError {
        let shown = text.count > 40 ? String(text.prefix(40)) + "..." : text
        return PostgresError(.decoding, "'\(shown)' is not a \(Self.self)", column: column)
    }
}

extension String: PostgresDecodable {
    public static func decode(postgresText text: String, column: String) throws(PostgresError) -> String { text }
}

/// Numbers decode from their text form; the error names the column.
public protocol PostgresTextDecodable: PostgresDecodable, LosslessStringConvertible {}

extension PostgresTextDecodable {
    public static func decode(postgresText text: String, column: String) throws(PostgresError) -> Self {
        guard let v = Self(text) else { throw mismatch(text, column) }
        return v
    }
}

extension Int: PostgresTextDecodable {}
extension Int32: PostgresTextDecodable {}
extension Int64: PostgresTextDecodable {}
extension Double: PostgresTextDecodable {}

extension Bool: PostgresDecodable {
    public static func decode(postgresText text: String, column: String) throws(PostgresError) -> Bool {
        switch text {
        case "t": return true
        case "f": return false
        default: throw mismatch(text, column)
        }
    }
}

extension Decimal: PostgresDecodable {
    /// `numeric`, exactly (no binary floating point on the way).
    public static func decode(postgresText text: String, column: String) throws(PostgresError) -> Decimal {
        guard let v = Decimal(string: text, locale: Locale(identifier: "en_US_POSIX")), !v.isNaN else { throw mismatch(text, column) }
        return v
    }
}

extension UUID: PostgresDecodable {
    public static func decode(postgresText text: String, column: String) throws(PostgresError) -> UUID {
        guard let v = UUID(text: text) else { throw mismatch(text, column) }
        return v
    }
}

extension Date: PostgresDecodable {
    /// `timestamptz` (connections run in UTC with ISO dates).
    public static func decode(postgresText text: String, column: String) throws(PostgresError) -> Date {
        guard let v = PostgresTime.parse(text) else { throw mismatch(text, column) }
        return v
    }
}

extension PostgresBytes: PostgresDecodable {
    public static func decode(postgresText text: String, column: String) throws(PostgresError) -> PostgresBytes {
        guard let v = PostgresHex.decode(text) else { throw mismatch(text, column) }
        return PostgresBytes(v)
    }
}

extension JSONValue: PostgresDecodable {
    /// `json`/`jsonb`.
    public static func decode(postgresText text: String, column: String) throws(PostgresError) -> JSONValue {
        do {
            return try JSONValue(parsing: Array(text.utf8))
        } catch {
            throw PostgresError(.decoding, "is not JSON: \(error)", column: column)
        }
    }
}

extension Optional: PostgresDecodable where Wrapped: PostgresDecodable {
    public static func decode(postgresText text: String, column: String) throws(PostgresError) -> Wrapped? {
        try Wrapped.decode(postgresText: text, column: column)
    }
    public static func decodeNull(column: String) throws(PostgresError) -> Wrapped? { nil }
}
