import Crypto
import Foundation

/// The signature of a webhook, as Stripe's scheme: header `Troupe-Signature: t=<unix seconds>,v1=<hex>`,
/// where v1 = HMAC-SHA256(partner's secret, "<t>.<raw body>"). The receiver recomputes it over the raw body
/// it got and refuses a signature that differs or a `t` too far from its clock (a replay).
public enum WebhookSignature {
    public static let header = "Troupe-Signature"
    /// The event's id: the same in every attempt, so a receiver can drop a second delivery.
    public static let eventHeader = "Troupe-Event-Id"
    /// How far `t` may be from the receiver's clock by default.
    public static let tolerance: TimeInterval = 300

    /// A new signing secret: `whsec_` and 32 random bytes as base64url.
    public static func newSecret() -> String {
        var rng = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }
        return "whsec_" + Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    /// The header's value for `body` signed at `time`.
    public static func sign(_ body: [UInt8], secret: String, at time: Date = Date()) -> String {
        let t = Int(time.timeIntervalSince1970)
        return "t=\(t),v1=\(hex(mac(body, secret: secret, t: t)))"
    }

    /// Whether `header` is a valid signature of `body` under `secret` made within `tolerance` of `now`.
    public static func verify(_ header: String, body: [UInt8], secret: String, now: Date = Date(), tolerance: TimeInterval = tolerance) -> Bool {
        var t: Int?, signatures: [String] = []
        for part in header.split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1)
            guard pair.count == 2 else { continue }
            if pair[0] == "t" { t = Int(pair[1]) } else if pair[0] == "v1" { signatures.append(String(pair[1])) }
        }
        guard let t, abs(now.timeIntervalSince1970 - Double(t)) <= tolerance else { return false }
        let expected = Array(hex(mac(body, secret: secret, t: t)).utf8)
        return signatures.contains { APIKey.constantTimeEqual(Array($0.utf8), expected) }
    }

    private static func mac(_ body: [UInt8], secret: String, t: Int) -> [UInt8] {
        var message = Array("\(t).".utf8)
        message += body
        return Array(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: Data(secret.utf8))))
    }

    private static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }
}
