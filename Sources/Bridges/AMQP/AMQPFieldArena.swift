import CRabbitMQ
import Foundation

/// C memory for AMQP field tables built from Swift values, of any depth: what it hands out stays valid
/// until ``reset()`` or until it is freed. Owned by one thread (a connection's, or one call's).
final class AMQPFieldArena {
    private var blocks: [UnsafeMutableRawPointer] = []

    deinit { reset() }

    /// Frees everything handed out so far.
    func reset() {
        for block in blocks { free(block) }
        blocks.removeAll(keepingCapacity: true)
    }

    /// `fields` as a table, its entries in key order.
    func table(_ fields: [String: AMQPValue]) -> amqp_table_t {
        guard !fields.isEmpty else { return amqp_empty_table }
        let entries = allocate(amqp_table_entry_t.self, count: fields.count)
        for (i, (key, field)) in fields.sorted(by: { $0.key < $1.key }).enumerated() {
            (entries + i).initialize(to: amqp_table_entry_t(key: bytes(Array(key.utf8)), value: value(field)))
        }
        return amqp_table_t(num_entries: Int32(fields.count), entries: entries)
    }

    /// One field value, with the type octet of its case.
    func value(_ v: AMQPValue) -> amqp_field_value_t {
        var f = amqp_field_value_t()
        func kind(_ k: amqp_field_value_kind_t) { f.kind = UInt8(k.rawValue) }
        switch v {
        case .string(let s): kind(AMQP_FIELD_KIND_UTF8); f.value.bytes = bytes(Array(s.utf8))
        case .bytes(let b): kind(AMQP_FIELD_KIND_BYTES); f.value.bytes = bytes(b)
        case .int(let n): kind(AMQP_FIELD_KIND_I64); f.value.i64 = n
        case .bool(let b): kind(AMQP_FIELD_KIND_BOOLEAN); f.value.boolean = b ? 1 : 0
        case .double(let d): kind(AMQP_FIELD_KIND_F64); f.value.f64 = d
        case .float(let x): kind(AMQP_FIELD_KIND_F32); f.value.f32 = x
        case .decimal(let scale, let value): kind(AMQP_FIELD_KIND_DECIMAL); f.value.decimal = amqp_decimal_t(decimals: scale, value: value)
        case .timestamp(let t): kind(AMQP_FIELD_KIND_TIMESTAMP); f.value.u64 = t
        case .table(let t): kind(AMQP_FIELD_KIND_TABLE); f.value.table = table(t)
        case .void: kind(AMQP_FIELD_KIND_VOID)
        case .array(let a):
            kind(AMQP_FIELD_KIND_ARRAY)
            let entries = allocate(amqp_field_value_t.self, count: max(1, a.count))
            for (i, element) in a.enumerated() { (entries + i).initialize(to: value(element)) }
            f.value.array = amqp_array_t(num_entries: Int32(a.count), entries: entries)
        case .sizedInt(let n, let k):
            f.kind = k.rawValue
            switch k {
            case .i8: f.value.i8 = Int8(truncatingIfNeeded: n)
            case .u8: f.value.u8 = UInt8(truncatingIfNeeded: n)
            case .i16: f.value.i16 = Int16(truncatingIfNeeded: n)
            case .u16: f.value.u16 = UInt16(truncatingIfNeeded: n)
            case .i32: f.value.i32 = Int32(truncatingIfNeeded: n)
            case .u32: f.value.u32 = UInt32(truncatingIfNeeded: n)
            case .u64: f.value.u64 = UInt64(bitPattern: n)
            }
        }
        return f
    }

    /// A copy of `b`.
    func bytes(_ b: [UInt8]) -> amqp_bytes_t {
        guard !b.isEmpty else { return amqp_bytes_t(len: 0, bytes: nil) }
        let p = raw(b.count)
        b.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: b.count) }
        return amqp_bytes_t(len: b.count, bytes: p)
    }

    private func allocate<T>(_ type: T.Type, count: Int) -> UnsafeMutablePointer<T> {
        raw(MemoryLayout<T>.stride * count).bindMemory(to: T.self, capacity: count)
    }

    private func raw(_ count: Int) -> UnsafeMutableRawPointer {
        guard let p = malloc(max(1, count)) else { fatalError("AMQPFieldArena: out of memory") }
        blocks.append(p)
        return p
    }
}
