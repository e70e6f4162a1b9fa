import CRabbitMQ
import Foundation

/// AMQP field tables for C calls: built for the duration of a call from Swift values and freed after;
/// read from the library's memory into Swift values.
enum AMQPTable {
    static func with<R>(_ fields: [String: AMQPValue], _ body: (amqp_table_t) throws -> R) rethrows -> R {
        if fields.isEmpty { return try body(amqp_empty_table) }
        var allocations: [UnsafeMutableRawPointer] = []
        defer { for p in allocations { free(p) } }
        func bytes(_ s: String) -> amqp_bytes_t {
            let p = strdup(s)!
            allocations.append(UnsafeMutableRawPointer(p))
            return amqp_bytes_t(len: strlen(p), bytes: UnsafeMutableRawPointer(p))
        }
        let entries = UnsafeMutablePointer<amqp_table_entry_t>.allocate(capacity: fields.count)
        defer { entries.deallocate() }
        for (i, (key, value)) in fields.sorted(by: { $0.key < $1.key }).enumerated() {
            let v: amqp_field_value_t = switch value {
            case .string(let s): crmq_utf8_value(bytes(s))
            case .int(let n): crmq_i64_value(n)
            }
            (entries + i).initialize(to: amqp_table_entry_t(key: bytes(key), value: v))
        }
        return try body(amqp_table_t(num_entries: Int32(fields.count), entries: entries))
    }

    static func read(_ table: amqp_table_t) -> [String: AMQPValue] {
        var out: [String: AMQPValue] = [:]
        guard table.num_entries > 0, let entries = table.entries else { return out }
        for i in 0..<Int(table.num_entries) {
            let entry = entries[i]
            let key = string(entry.key)
            var n: Int64 = 0
            var b = amqp_bytes_t()
            if crmq_int_value(entry.value, &n) == 1 {
                out[key] = .int(n)
            } else if crmq_bytes_value(entry.value, &b) == 1 {
                out[key] = .string(string(b))
            }
        }
        return out
    }

    /// A copy of bytes the library owns.
    static func string(_ b: amqp_bytes_t) -> String {
        guard b.len > 0, let p = b.bytes else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: p, count: b.len), as: UTF8.self)
    }

    static func array(_ b: amqp_bytes_t) -> [UInt8] {
        guard b.len > 0, let p = b.bytes else { return [] }
        return Array(UnsafeRawBufferPointer(start: p, count: b.len))
    }
}

/// Borrows a Swift string as `amqp_bytes_t` for one call (never keep `amqp_cstring_bytes` of a Swift string).
func withAMQPBytes<R>(_ s: String, _ body: (amqp_bytes_t) throws -> R) rethrows -> R {
    var s = s
    return try s.withUTF8 { buf in
        try body(amqp_bytes_t(len: buf.count, bytes: UnsafeMutableRawPointer(mutating: buf.baseAddress)))
    }
}
