import Foundation

/// Envelope timestamps: ISO-8601 in UTC with exactly three fractional digits and `Z`
/// (`2026-02-19T10:30:00.000Z`), formatted and parsed without locale-dependent formatters.
public enum Timestamp {
    /// Formats a date as `YYYY-MM-DDTHH:MM:SS.mmmZ` (milliseconds, truncated).
    public static func format(_ date: Date) -> String {
        let totalMs = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        var days = totalMs >= 0 ? totalMs / 86_400_000 : (totalMs - 86_399_999) / 86_400_000
        let msOfDay = totalMs - days * 86_400_000
        // civil-from-days (H. Hinnant)
        days += 719_468
        let era = (days >= 0 ? days : days - 146_096) / 146_097
        let doe = days - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        // `-MM-DDTHH:MM:SS.mmmZ`, written digit by digit (this runs once per envelope published)
        let tail = String(unsafeUninitializedCapacity: 20) { out in
            var o = 0
            func put(_ v: Int64, _ width: Int) {
                var v = v
                for i in stride(from: width - 1, through: 0, by: -1) { out[o + i] = UInt8(ascii: "0") + UInt8(v % 10); v /= 10 }
                o += width
            }
            func sep(_ c: Unicode.Scalar) { out[o] = UInt8(ascii: c); o += 1 }
            sep("-"); put(month, 2); sep("-"); put(day, 2); sep("T")
            put(msOfDay / 3_600_000, 2); sep(":"); put(msOfDay / 60_000 % 60, 2); sep(":"); put(msOfDay / 1000 % 60, 2)
            sep("."); put(msOfDay % 1000, 3); sep("Z")
            return o
        }
        let yearText = String(year)
        return (year >= 0 && yearText.utf8.count < 4 ? String(repeating: "0", count: 4 - yearText.utf8.count) : "") + yearText + tail
    }

    /// Parses ISO-8601 date-times `YYYY-MM-DDTHH:MM:SS[.f+](Z|±HH:MM)`; nil when malformed.
    public static func parse(_ text: String) -> Date? {
        let b = Array(text.utf8)
        func num(_ from: Int, _ len: Int) -> Int64? {
            guard from + len <= b.count else { return nil }
            var v: Int64 = 0
            for i in from..<from + len {
                guard b[i] >= 48, b[i] <= 57 else { return nil }
                v = v * 10 + Int64(b[i] - 48)
            }
            return v
        }
        guard b.count >= 20, b[4] == 45, b[7] == 45, b[10] == 84 || b[10] == 116, b[13] == 58, b[16] == 58,
              let y = num(0, 4), let mo = num(5, 2), let d = num(8, 2),
              let h = num(11, 2), let mi = num(14, 2), let s = num(17, 2),
              (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, s < 61 else { return nil }
        var i = 19
        var fraction = 0.0
        if i < b.count, b[i] == 46 {
            i += 1
            var scale = 0.1
            let start = i
            while i < b.count, b[i] >= 48, b[i] <= 57 { fraction += Double(b[i] - 48) * scale; scale /= 10; i += 1 }
            guard i > start else { return nil }
        }
        var offsetSeconds: Int64 = 0
        guard i < b.count else { return nil }
        if b[i] == 90 || b[i] == 122 {                       // Z
            i += 1
        } else if b[i] == 43 || b[i] == 45, let oh = num(i + 1, 2), i + 3 < b.count, b[i + 3] == 58, let om = num(i + 4, 2) {
            offsetSeconds = (oh * 3600 + om * 60) * (b[i] == 43 ? 1 : -1)
            i += 6
        } else {
            return nil
        }
        guard i == b.count else { return nil }
        // days-from-civil (H. Hinnant)
        let yy = mo <= 2 ? y - 1 : y
        let era = (yy >= 0 ? yy : yy - 399) / 400
        let yoe = yy - era * 400
        let doy = (153 * (mo > 2 ? mo - 3 : mo + 9) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        let seconds = days * 86_400 + h * 3600 + mi * 60 + s - offsetSeconds
        return Date(timeIntervalSince1970: Double(seconds) + fraction)
    }
}
