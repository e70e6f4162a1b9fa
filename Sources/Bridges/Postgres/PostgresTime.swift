import Foundation

/// Text forms of `timestamptz`. Connections run with `TimeZone=UTC` and `DateStyle=ISO`, so the server
/// writes `2026-11-23 21:19:53.123456+00`.
enum PostgresTime {
    static func format(_ date: Date) -> String {
        let micros = Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
        let seconds = Int(micros.floorDiv(1_000_000))
        let fraction = Int(micros - Int64(seconds) * 1_000_000)
        let c = Calendar.utc.dateComponents([.year, .month, .day, .hour, .minute, .second], from: Date(timeIntervalSince1970: TimeInterval(seconds)))
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", c.year!, c.month!, c.day!, c.hour!, c.minute!, c.second!, fraction)
    }

    /// Parses `YYYY-MM-DD HH:MM:SS[.ffffff]+00[:MM]`; nil when it is not that.
    static func parse(_ text: String) -> Date? {
        let u = Array(text.utf8)
        func number(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= u.count else { return nil }
            var n = 0
            for b in u[from..<(from + count)] {
                guard b >= 48, b <= 57 else { return nil }
                n = n * 10 + Int(b - 48)
            }
            return n
        }
        guard u.count >= 22, let year = number(0, 4), let month = number(5, 2), let day = number(8, 2),
              let hour = number(11, 2), let minute = number(14, 2), let second = number(17, 2) else { return nil }
        var i = 19
        var micros = 0
        if i < u.count, u[i] == UInt8(ascii: ".") {
            i += 1
            var digits = 0
            while i < u.count, u[i] >= 48, u[i] <= 57 {
                if digits < 6 { micros = micros * 10 + Int(u[i] - 48); digits += 1 }
                i += 1
            }
            for _ in digits..<6 { micros *= 10 }
        }
        guard i < u.count, u[i] == UInt8(ascii: "+") || u[i] == UInt8(ascii: "-"), let offsetHours = number(i + 1, 2) else { return nil }
        var offset = offsetHours * 3600
        if u.count >= i + 6, u[i + 3] == UInt8(ascii: ":"), let minutes = number(i + 4, 2) { offset += minutes * 60 }
        if u[i] == UInt8(ascii: "-") { offset = -offset }
        let components = DateComponents(timeZone: .gmt, year: year, month: month, day: day, hour: hour, minute: minute, second: second)
        guard let base = Calendar.utc.date(from: components) else { return nil }
        return base.addingTimeInterval(TimeInterval(micros) / 1_000_000 - TimeInterval(offset))
    }
}

extension Calendar {
    static let utc: Calendar = {
        var c = Calendar(identifier: .gregorian)
        c.timeZone = .gmt
        return c
    }()
}

private extension Int64 {
    func floorDiv(_ d: Int64) -> Int64 { self >= 0 ? self / d : -((-self + d - 1) / d) }
}
