import CRabbitMQ
import Foundation

/// AMQP field tables for C calls: built for the duration of a call from Swift values and freed after;
/// read from the library's memory into Swift values, every field type included.
enum AMQPTable {
    static func with<R>(_ fields: [String: AMQPValue], _ body: (amqp_table_t) throws -> R) rethrows -> R {
        if fields.isEmpty { return try body(amqp_empty_table) }
        let arena = AMQPFieldArena()
        return try body(arena.table(fields))
    }

    /// Tables and arrays nested deeper than this are not read (the value says so): a header frame can nest
    /// tens of thousands of levels, and reading them by recursion would overflow the thread's stack.
    static let maxDepth = 32

    static func read(_ table: amqp_table_t, depth: Int = 0) -> [String: AMQPValue] {
        var out: [String: AMQPValue] = [:]
        guard table.num_entries > 0, let entries = table.entries else { return out }
        for i in 0..<Int(table.num_entries) {
            if let value = value(entries[i].value, depth: depth) { out[string(entries[i].key)] = value }
        }
        return out
    }

    /// One field value as Swift; nil for a kind rabbitmq-c does not know (it would not have decoded it).
    static func value(_ v: amqp_field_value_t, depth: Int = 0) -> AMQPValue? {
        let nested = UInt32(v.kind) == AMQP_FIELD_KIND_TABLE.rawValue || UInt32(v.kind) == AMQP_FIELD_KIND_ARRAY.rawValue
        if nested, depth >= maxDepth { return .string("(dropped: nested deeper than \(maxDepth) levels)") }
        func sized(_ n: Int64, _ kind: AMQPValue.IntegerKind) -> AMQPValue { .sizedInt(n, kind: kind) }
        switch UInt32(v.kind) {
        case AMQP_FIELD_KIND_UTF8.rawValue: return .string(string(v.value.bytes))
        case AMQP_FIELD_KIND_BYTES.rawValue: return .bytes(array(v.value.bytes))
        case AMQP_FIELD_KIND_I64.rawValue: return .int(v.value.i64)
        case AMQP_FIELD_KIND_BOOLEAN.rawValue: return .bool(v.value.boolean != 0)
        case AMQP_FIELD_KIND_F64.rawValue: return .double(v.value.f64)
        case AMQP_FIELD_KIND_F32.rawValue: return .float(v.value.f32)
        case AMQP_FIELD_KIND_DECIMAL.rawValue: return .decimal(scale: v.value.decimal.decimals, value: v.value.decimal.value)
        case AMQP_FIELD_KIND_TIMESTAMP.rawValue: return .timestamp(v.value.u64)
        case AMQP_FIELD_KIND_TABLE.rawValue: return .table(read(v.value.table, depth: depth + 1))
        case AMQP_FIELD_KIND_VOID.rawValue: return .void
        case AMQP_FIELD_KIND_ARRAY.rawValue:
            let a = v.value.array
            guard a.num_entries > 0, let entries = a.entries else { return .array([]) }
            return .array((0..<Int(a.num_entries)).compactMap { value(entries[$0], depth: depth + 1) })
        case AMQP_FIELD_KIND_I8.rawValue: return sized(Int64(v.value.i8), .i8)
        case AMQP_FIELD_KIND_U8.rawValue: return sized(Int64(v.value.u8), .u8)
        case AMQP_FIELD_KIND_I16.rawValue: return sized(Int64(v.value.i16), .i16)
        case AMQP_FIELD_KIND_U16.rawValue: return sized(Int64(v.value.u16), .u16)
        case AMQP_FIELD_KIND_I32.rawValue: return sized(Int64(v.value.i32), .i32)
        case AMQP_FIELD_KIND_U32.rawValue: return sized(Int64(v.value.u32), .u32)
        case AMQP_FIELD_KIND_U64.rawValue: return sized(Int64(bitPattern: v.value.u64), .u64)
        default: return nil
        }
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
