import ActorRuntime
import Foundation

/// Amounts of money: decimals with at most two fractional digits, read and written in one place.
public enum Money {
    private static let posix = Locale(identifier: "en_US_POSIX")

    /// `"1000"`, `"250.5"`, `"0.99"`; nil for anything else (more than 2 decimals, signs, exponents, text).
    public static func parse(_ text: String) -> Decimal? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), !parts[0].isEmpty, parts[0].count <= 12, parts[0].allSatisfy(\.isASCIIDigit) else { return nil }
        if parts.count == 2 { guard (1...2).contains(parts[1].count), parts[1].allSatisfy(\.isASCIIDigit) else { return nil } }
        return Decimal(string: text, locale: posix)
    }

    /// As a JSON number: the Double nearest to the amount in cents, which prints as those two decimals
    /// (`NSDecimalNumber.doubleValue` is not always the nearest: 48.76 came out as 48.760000000000005).
    public static func json(_ amount: Decimal) -> JSONValue { .number(Double(format(amount)) ?? 0) }

    /// `amount` rounded to cents, halves away from zero.
    public static func round(_ amount: Decimal) -> Decimal {
        var value = amount, rounded = Decimal()
        NSDecimalRound(&rounded, &value, 2, .plain)
        return rounded
    }

    /// Two decimals, `.` as separator: `1000.00`.
    public static func format(_ amount: Decimal) -> String {
        var value = amount, rounded = Decimal()
        NSDecimalRound(&rounded, &value, 2, .bankers)
        let text = "\(rounded)"
        let parts = text.split(separator: ".")
        let fraction = parts.count > 1 ? String(parts[1]) : ""
        return "\(parts[0]).\(fraction.padding(toLength: 2, withPad: "0", startingAt: 0))"
    }
}

extension Character {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
