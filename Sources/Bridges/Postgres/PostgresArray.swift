/// An array parameter (`$1::uuid[]`, `$2::text[]`) in PostgreSQL's array literal form, every element
/// quoted and escaped, so a statement can take many rows at once (`unnest($1::uuid[], $2::text[])`)
/// with its values still bound, never spliced.
public struct PostgresArray: PostgresEncodable {
    public let elements: [any PostgresEncodable]

    public init(_ elements: [any PostgresEncodable]) { self.elements = elements }

    /// One column of `rows`: `PostgresArray(rows, \.id)`.
    public init<Row>(_ rows: [Row], _ value: (Row) -> any PostgresEncodable) { elements = rows.map(value) }

    public var postgresText: String? {
        var bytes: [UInt8] = [UInt8(ascii: "{")]
        bytes.reserveCapacity(elements.count * 40)
        for (i, element) in elements.enumerated() {
            if i > 0 { bytes.append(UInt8(ascii: ",")) }
            guard let value = element.postgresText else { bytes.append(contentsOf: "NULL".utf8); continue }
            bytes.append(UInt8(ascii: "\""))
            for byte in value.utf8 {
                if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { bytes.append(UInt8(ascii: "\\")) }
                bytes.append(byte)
            }
            bytes.append(UInt8(ascii: "\""))
        }
        bytes.append(UInt8(ascii: "}"))
        return String(decoding: bytes, as: UTF8.self)
    }
}
