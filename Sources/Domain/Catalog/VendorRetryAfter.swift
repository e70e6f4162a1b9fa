import Foundation

/// How long a vendor's 429 asks us to wait. Bamboo says it in its message ("Too many requests, please wait
/// for 1234 seconds"); the text is read leniently (any case, a decimal, "1,800", "secs", "minutes", "1 hour"),
/// and so is the `Retry-After` header (seconds, or an HTTP date): the longer of the two, else `fallback`.
/// Never less than a second, never more than a day (a garbled number must not stop syncs for years).
public enum VendorRetryAfter {
    public static func parse(message: String?, header: String?, fallback: Duration, now: Date = Date()) -> Duration {
        let fromMessage = message.flatMap(fromText)
        var fromHeader: Double? = nil
        if let header = header?.trimmingCharacters(in: .whitespaces), !header.isEmpty {
            if let seconds = Double(header), seconds.isFinite {
                fromHeader = seconds
            } else {
                let format = DateFormatter()
                format.locale = Locale(identifier: "en_US_POSIX")
                format.timeZone = TimeZone(identifier: "GMT")
                format.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
                fromHeader = format.date(from: header).map { $0.timeIntervalSince(now) }
            }
        }
        // Both said: the longer (waiting too little costs a refused call; too much, a later sync).
        guard let wait = [fromMessage, fromHeader].compactMap({ $0 }).max() else { return fallback }
        return clamp(wait)
    }

    /// The seconds after "wait for" (or "retry after", "try again in") in `text`, with its unit.
    static func fromText(_ text: String) -> Double? {
        let lower = text.lowercased()
        for lead in ["wait for", "retry after", "try again in", "wait"] {
            guard let range = lower.range(of: lead) else { continue }
            var rest = lower[range.upperBound...].drop { $0 == " " || $0 == ":" }
            // Digits with grouping ("1,800" or "1 800" is not split) and a decimal point.
            let digits = rest.prefix { $0.isASCII && ($0.isNumber || $0 == "." || $0 == ",") }
            guard let value = Double(digits.filter { $0 != "," }), value.isFinite else { continue }
            rest = rest.dropFirst(digits.count).drop { $0 == " " }
            let unit = rest.prefix { $0.isLetter }
            switch unit {
            case let u where u.hasPrefix("m") && !u.hasPrefix("ms") && !u.hasPrefix("milli"): return value * 60
            case let u where u.hasPrefix("h"): return value * 3600
            case let u where u.hasPrefix("ms") || u.hasPrefix("milli"): return value / 1000
            default: return value                                      // seconds, secs, s, or no unit
            }
        }
        return nil
    }

    static func clamp(_ seconds: Double) -> Duration {
        .milliseconds(Int64(min(max(seconds, 1), 86_400) * 1000))
    }
}
