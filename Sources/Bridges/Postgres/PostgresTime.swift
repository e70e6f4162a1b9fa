import Foundation

/// Text forms of `timestamptz`. Connections run with `TimeZone=UTC` and `DateStyle=ISO`, so the server
/// writes `2026-11-23 21:19:53.123456+00`.
enum PostgresTime {
    /// `YYYY-MM-DDTHH:MM:SS.ffffffZ`, written digit by digit (the civil date from the day number, as
    /// Howard Hinnant's `civil_from_days`): it is on the path of every bound timestamp and every row a
    /// COPY writes, where `Calendar` and `String(format:)` cost microseconds each.
    static func format(_ date: Date) -> String {
        let micros = Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
        let seconds = micros.floorDiv(1_000_000)
        let fraction = Int(micros - seconds * 1_000_000)
        let days = seconds.floorDiv(86_400)
        let inDay = Int(seconds - days * 86_400)
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = Int(z - era * 146_097)
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = Int(era) * 400 + yearOfEra + (month <= 2 ? 1 : 0)
        guard (0...9999).contains(year) else {                  // not four digits: the slow, general way
            let c = Calendar.utc.dateComponents([.year, .month, .day, .hour, .minute, .second], from: Date(timeIntervalSince1970: TimeInterval(seconds)))
            return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", c.year!, c.month!, c.day!, c.hour!, c.minute!, c.second!, fraction)
        }
        return String(unsafeUninitializedCapacity: 27) { buffer in
            var i = 0
            func digits(_ value: Int, _ count: Int) {
                var v = value
                for k in stride(from: count - 1, through: 0, by: -1) {
                    buffer[i + k] = UInt8(48 + v % 10)
                    v /= 10
                }
                i += count
            }
            func put(_ byte: UInt8) { buffer[i] = byte; i += 1 }
            digits(year, 4); put(45); digits(month, 2); put(45); digits(day, 2); put(84)
            digits(inDay / 3600, 2); put(58); digits(inDay / 60 % 60, 2); put(58); digits(inDay % 60, 2); put(46)
            digits(fraction, 6); put(90)
            return i
        }
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
