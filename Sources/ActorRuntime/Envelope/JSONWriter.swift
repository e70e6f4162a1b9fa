/// Writes ``JSONValue``s as compact UTF-8 JSON: object keys sorted (deterministic bytes for equal values),
/// `/` not escaped, integral numbers without a fraction, non-finite numbers as `null`.
///
/// Every envelope published is serialised once; appending to one byte array avoids the `Encoder`
/// machinery, which cost as much CPU as the publish itself.
struct JSONWriter {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    mutating func write(_ value: JSONValue) {
        switch value {
        case .null: append("null")
        case .bool(let b): append(b ? "true" : "false")
        case .number(let n): write(number: n)
        case .string(let s): write(string: s)
        case .array(let elements):
            bytes.append(UInt8(ascii: "["))
            for (i, element) in elements.enumerated() {
                if i > 0 { bytes.append(UInt8(ascii: ",")) }
                write(element)
            }
            bytes.append(UInt8(ascii: "]"))
        case .object(let members):
            beginObject()
            for key in members.keys.sorted() { member(key, members[key]!) }
            endObject()
        }
    }

    mutating func beginObject() { bytes.append(UInt8(ascii: "{")) }

    mutating func endObject() {
        if bytes.last == UInt8(ascii: ",") { bytes.removeLast() }
        bytes.append(UInt8(ascii: "}"))
    }

    /// One `"key":value,` inside an object (``endObject()`` drops the last comma).
    mutating func member(_ key: String, _ value: JSONValue) {
        write(string: key)
        bytes.append(UInt8(ascii: ":"))
        write(value)
        bytes.append(UInt8(ascii: ","))
    }

    /// A string already known to need no escaping (hex, digits, ISO dates), copied as is.
    mutating func member(_ key: String, plain: String) {
        write(string: key)
        bytes.append(UInt8(ascii: ":"))
        bytes.append(UInt8(ascii: "\""))
        bytes.append(contentsOf: plain.utf8)
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ","))
    }

    mutating func write(number n: Double) {
        guard n.isFinite else { append("null"); return }
        if n.rounded(.towardZero) == n, abs(n) < 9_007_199_254_740_992 {
            bytes.append(contentsOf: String(Int64(n)).utf8)
        } else {
            bytes.append(contentsOf: n.description.utf8)
        }
    }

    mutating func write(string s: String) {
        bytes.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): append("\\\"")
            case UInt8(ascii: "\\"): append("\\\\")
            case 0x0A: append("\\n")
            case 0x0D: append("\\r")
            case 0x09: append("\\t")
            case 0x08: append("\\b")
            case 0x0C: append("\\f")
            case 0..<0x20:
                append("\\u00")
                bytes.append(Self.hex[Int(b >> 4)])
                bytes.append(Self.hex[Int(b & 0xF)])
            default: bytes.append(b)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    private mutating func append(_ s: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }
}
