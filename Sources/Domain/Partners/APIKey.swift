import Crypto
import Foundation

/// A partner's API key: 32 random bytes shown once as `tk_` + base64url, stored only as
/// HMAC-SHA256(secret, key), so a copy of the database does not give anyone a usable key.
public struct APIKey: Sendable {
    /// The key as the partner sends it in `x-api-key`.
    public let text: String

    /// A new random key.
    public static func generate() -> APIKey {
        var rng = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let b64 = Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        return APIKey(text: "tk_" + b64)
    }

    public init(text: String) { self.text = text }

    /// True for text of a key's shape (`tk_` and 43 base64url characters): anything else cannot be a key,
    /// and is refused without a database lookup.
    public static func isWellFormed(_ text: String) -> Bool {
        let utf8 = text.utf8
        guard utf8.count == 46, text.hasPrefix("tk_") else { return false }
        return utf8.dropFirst(3).allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b == 0x2d || b == 0x5f
        }
    }

    /// The first characters, stored beside the hash so operators can tell keys apart.
    public var prefix: String { String(text.prefix(10)) }

    /// HMAC-SHA256 of the key under the deployment's secret.
    public func hash(secret: String) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: Data(text.utf8), using: SymmetricKey(data: Data(secret.utf8))))
    }

    /// Compares two hashes in time that does not depend on where they differ.
    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for i in a.indices { diff |= a[i] ^ b[i] }
        return diff == 0
    }
}
