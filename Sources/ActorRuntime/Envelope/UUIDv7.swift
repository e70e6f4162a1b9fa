import Foundation
import Synchronization

/// Makes UUIDv7 identifiers (RFC 9562 §5.7): a 48-bit Unix millisecond timestamp, the version and
/// variant bits, and a counter so that ids made in one process are strictly increasing.
///
/// Monotonicity follows RFC 9562 §6.2 method 1 with a 42-bit counter (the 12 bits of `rand_a` and the
/// top 30 bits of `rand_b`), seeded at random each new millisecond with its top bit clear, so a burst of
/// billions of ids within one millisecond still sorts. If the counter would overflow, or the clock steps
/// back, the generator keeps using (and advances) the last timestamp instead. The last 32 bits are random.
public final class UUIDv7Generator: Sendable {
    private struct State {
        var lastMillis: UInt64 = 0
        var counter: UInt64 = 0
    }

    private static let counterBits: UInt64 = 42
    private static let counterMax: UInt64 = (1 << counterBits) - 1

    private let state = Mutex(State())
    private let clock: @Sendable () -> UInt64

    /// The process-wide generator, on the system clock.
    public static let shared = UUIDv7Generator()

    /// - Parameter millisecondsSinceEpoch: the clock; tests inject a frozen one to exercise the counter.
    public init(millisecondsSinceEpoch: @escaping @Sendable () -> UInt64 = UUIDv7Generator.systemMillis) {
        self.clock = millisecondsSinceEpoch
    }

    /// Milliseconds since 1970 from the realtime clock.
    @Sendable public static func systemMillis() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return UInt64(ts.tv_sec) * 1000 + UInt64(ts.tv_nsec) / 1_000_000
    }

    /// A new identifier, greater than every identifier this generator made before.
    public func next() -> UUID {
        let now = clock() & 0xFFFF_FFFF_FFFF
        var rng = SystemRandomNumberGenerator()
        let (millis, counter) = state.withLock { s -> (UInt64, UInt64) in
            if now > s.lastMillis {
                s.lastMillis = now
                s.counter = rng.next() & (Self.counterMax >> 1)   // top bit clear: room to count up
            } else if s.counter < Self.counterMax {
                s.counter += 1
            } else {
                s.lastMillis += 1                                  // counter exhausted: borrow the next ms
                s.counter = rng.next() & (Self.counterMax >> 1)
            }
            return (s.lastMillis, s.counter)
        }
        let randA = (counter >> 30) & 0xFFF             // 12 bits
        let counterLow = counter & 0x3FFF_FFFF          // 30 bits into rand_b
        let random32 = UInt64(rng.next() as UInt32)
        let high = (millis << 16) | (0x7 << 12) | randA
        let low = (0b10 << 62) | (counterLow << 32) | random32
        return UUID(uuid: (
            UInt8(truncatingIfNeeded: high >> 56), UInt8(truncatingIfNeeded: high >> 48),
            UInt8(truncatingIfNeeded: high >> 40), UInt8(truncatingIfNeeded: high >> 32),
            UInt8(truncatingIfNeeded: high >> 24), UInt8(truncatingIfNeeded: high >> 16),
            UInt8(truncatingIfNeeded: high >> 8), UInt8(truncatingIfNeeded: high),
            UInt8(truncatingIfNeeded: low >> 56), UInt8(truncatingIfNeeded: low >> 48),
            UInt8(truncatingIfNeeded: low >> 40), UInt8(truncatingIfNeeded: low >> 32),
            UInt8(truncatingIfNeeded: low >> 24), UInt8(truncatingIfNeeded: low >> 16),
            UInt8(truncatingIfNeeded: low >> 8), UInt8(truncatingIfNeeded: low)
        ))
    }
}

extension UUID {
    /// A fresh UUIDv7 from the process-wide generator.
    public static func v7() -> UUID { UUIDv7Generator.shared.next() }

    /// The RFC 9562 version nibble (7 for UUIDv7).
    public var version: Int { Int(uuid.6 >> 4) }

    /// The Unix millisecond timestamp of a UUIDv7.
    public var v7Milliseconds: UInt64 {
        let u = uuid
        return [u.0, u.1, u.2, u.3, u.4, u.5].reduce(0) { ($0 << 8) | UInt64($1) }
    }

    /// The id in RFC 9562's lowercase text form, as it travels in envelopes (and in SQL parameters).
    /// Hand-formatted: Foundation's `uuidString` goes through `snprintf`, once per message.
    public var lowercasedString: String {
        withUnsafeBytes(of: uuid) { raw in
            String(unsafeUninitializedCapacity: 36) { out in
                let hex: StaticString = "0123456789abcdef"
                var o = 0
                for (i, byte) in raw.enumerated() {
                    if i == 4 || i == 6 || i == 8 || i == 10 { out[o] = UInt8(ascii: "-"); o += 1 }
                    out[o] = hex.utf8Start[Int(byte >> 4)]
                    out[o + 1] = hex.utf8Start[Int(byte & 0xF)]
                    o += 2
                }
                return o
            }
        }
    }

    /// Parses the 8-4-4-4-12 hex form (either case); nil otherwise. Hand-written: Foundation's
    /// `UUID(uuidString:)` goes through `sscanf`, once per message.
    public init?(text: some StringProtocol) {
        var bytes = (UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0),
                     UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0))
        let ok = withUnsafeMutableBytes(of: &bytes) { out -> Bool in
            var n = 0, high: UInt8? = nil, position = 0
            for c in text.utf8 {
                defer { position += 1 }
                if position == 8 || position == 13 || position == 18 || position == 23 {
                    guard c == UInt8(ascii: "-") else { return false }
                    continue
                }
                let v: UInt8
                switch c {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): v = c - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): v = c - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): v = c - UInt8(ascii: "A") + 10
                default: return false
                }
                guard n < 16 else { return false }
                if let h = high { out[n] = h << 4 | v; n += 1; high = nil } else { high = v }
            }
            return position == 36 && n == 16
        }
        guard ok else { return nil }
        self.init(uuid: bytes)
    }
}
