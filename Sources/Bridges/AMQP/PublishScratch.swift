import CRabbitMQ
import Foundation

/// Memory a connection reuses for each publish's property strings and header table, so publishing a
/// message allocates nothing (this runs once per message). Owned by the connection's one thread; what it
/// hands out is valid until the next ``reserve(bytes:entries:)``.
final class PublishScratch {
    private var bytes: UnsafeMutableRawPointer
    private var capacity: Int
    private var used = 0
    private var entries: UnsafeMutablePointer<amqp_table_entry_t>
    private var entryCapacity: Int
    private var entryCount = 0
    /// Header values other than strings and 64-bit integers (nested tables, arrays, floats...): rare, so
    /// allocated per message and freed at the next ``reserve(bytes:entries:)``.
    private let arena = AMQPFieldArena()

    init() {
        capacity = 512
        bytes = .allocate(byteCount: capacity, alignment: 8)
        entryCapacity = 8
        entries = .allocate(capacity: entryCapacity)
    }

    deinit {
        bytes.deallocate()
        entries.deallocate()
    }

    /// Forgets what was handed out and makes room for `bytes` of strings and `entries` table entries.
    func reserve(bytes needed: Int, entries neededEntries: Int) {
        used = 0
        entryCount = 0
        arena.reset()
        if needed > capacity {
            bytes.deallocate()
            capacity = max(needed, capacity * 2)
            bytes = .allocate(byteCount: capacity, alignment: 8)
        }
        if neededEntries > entryCapacity {
            entries.deallocate()
            entryCapacity = max(neededEntries, entryCapacity * 2)
            entries = .allocate(capacity: entryCapacity)
        }
    }

    /// The UTF-8 of `s`, copied into the reserved space.
    func copy(_ s: String) -> amqp_bytes_t {
        let start = bytes + used
        let count = s.utf8.withContiguousStorageIfAvailable { utf8 in
            start.copyMemory(from: utf8.baseAddress!, byteCount: utf8.count)
            return utf8.count
        } ?? {
            let utf8 = Array(s.utf8)
            start.copyMemory(from: utf8, byteCount: utf8.count)
            return utf8.count
        }()
        precondition(used + count <= capacity, "PublishScratch: more bytes copied than reserved")
        used += count
        return amqp_bytes_t(len: count, bytes: start)
    }

    /// `fields` as a field table in the reserved space.
    func table(_ fields: [String: AMQPValue]) -> amqp_table_t {
        precondition(fields.count <= entryCapacity, "PublishScratch: more entries than reserved")
        var i = 0
        for (key, value) in fields {
            let v: amqp_field_value_t = switch value {
            case .string(let s): crmq_utf8_value(copy(s))
            case .int(let n): crmq_i64_value(n)
            default: arena.value(value)
            }
            (entries + i).initialize(to: amqp_table_entry_t(key: copy(key), value: v))
            i += 1
        }
        return amqp_table_t(num_entries: Int32(fields.count), entries: entries)
    }
}
