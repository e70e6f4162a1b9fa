import ActorRuntime
import Bridges
import Crypto
import Foundation

/// Seals secrets Troupe must read back before they are stored (the vendor's cards, partners' webhook
/// signing secrets). For cards: AES-256-GCM, the order's id as
/// authenticated data (a sealed value moved to another order does not open). Stored in the order's `cards`
/// column as `{"sealed": base64(nonce | ciphertext | tag), "v": 1}`; opened only for the API's answer to the
/// order's own partner.
public struct CardVault: Sendable, Equatable {
    /// The key's length: 32 bytes (AES-256), given as base64 in `security.cardKey` or `TROUPE_CARD_KEY`.
    public static let keyBytes = 32
    /// The key's bytes (swift-crypto's `SymmetricKey` is not `Sendable`: one is made per call).
    private let keyBytes: [UInt8]
    private var key: SymmetricKey { SymmetricKey(data: keyBytes) }

    public struct KeyError: Error, CustomStringConvertible {
        public let description: String
    }

    public init(key: [UInt8]) throws(KeyError) {
        guard key.count == Self.keyBytes else { throw KeyError(description: "must be \(Self.keyBytes) bytes, got \(key.count)") }
        keyBytes = key
    }

    /// A key given as base64 text.
    public init(base64 text: String) throws(KeyError) {
        guard let data = Data(base64Encoded: text) else { throw KeyError(description: "is not base64 (make one with: openssl rand -base64 32)") }
        try self.init(key: Array(data))
    }

    /// The development key: fixed and public, so only for a database on loopback (the topology refuses it
    /// otherwise).
    public static let development: CardVault = {
        do { return try CardVault(key: Array(SHA256.hash(data: Data("troupe development card key: never for production".utf8)))) }
        catch { fatalError("the development key is 32 bytes") }
    }()

    /// `cards` sealed for order `order`.
    public func seal(_ cards: JSONValue, order: UUID) throws -> JSONValue { try seal(cards, context: order.lowercasedString) }

    /// The cards of order `order` as stored, opened; a value stored before sealing (not sealed) comes back
    /// as it is.
    public func open(_ stored: JSONValue, order: UUID) throws -> JSONValue { try open(stored, context: order.lowercasedString) }

    /// `value` sealed with `context` as authenticated data (what it belongs to: it opens only with the same).
    public func seal(_ value: JSONValue, context: String) throws -> JSONValue {
        let box = try AES.GCM.seal(value.jsonBytes, using: key, authenticating: Array(context.utf8))
        guard let combined = box.combined else { throw KeyError(description: "AES-GCM gave no combined form") }
        return .object(["sealed": .string(combined.base64EncodedString()), "v": .number(1)])
    }

    /// A value ``seal(_:context:)`` made, opened; a value that is not sealed comes back as it is.
    public func open(_ stored: JSONValue, context: String) throws -> JSONValue {
        guard case .string(let text)? = stored["sealed"] else { return stored }
        guard let data = Data(base64Encoded: text) else { throw KeyError(description: "the sealed value of \(context) is not base64") }
        let plain = try AES.GCM.open(try AES.GCM.SealedBox(combined: data), using: key, authenticating: Array(context.utf8))
        return try JSONValue(parsing: Array(plain))
    }

    /// Seals the cards of every order that holds them in plain (stored before cards were sealed); a node
    /// hosting OrderQueue runs it at start. Once done, it says so in `schedule_runs` (`seal-plain-cards`), so
    /// later starts do not read the orders table again. Returns how many orders it sealed.
    @discardableResult
    public func sealStoredCards(pool: PostgresPool) async throws -> Int {
        let job = "seal-plain-cards"
        let done = try await pool.withConnection { db in !(try db.query("SELECT 1 FROM schedule_runs WHERE job = $1", [job]).rows.isEmpty) }
        if done { return 0 }
        var total = 0
        while true {
            let vault = self
            let n = try await pool.transaction { db in
                let rows = try db.query("""
                    SELECT id, cards FROM orders WHERE cards IS NOT NULL AND jsonb_typeof(cards) = 'array'
                    ORDER BY id LIMIT 500 FOR UPDATE
                    """).rows
                for row in rows {
                    let id: UUID = try row.decode("id")
                    try db.query("UPDATE orders SET cards = $2 WHERE id = $1", [id, try vault.seal(try row.decode("cards"), order: id)])
                }
                if rows.count < 500 {
                    try db.query("INSERT INTO schedule_runs (job, last_run_at) VALUES ($1, now()) ON CONFLICT (job) DO NOTHING", [job])
                }
                return rows.count
            }
            total += n
            if n < 500 { return total }
        }
    }
}
