import Bridges
import Crypto
import Foundation

/// A partner's `Idempotency-Key` requests, remembered for ``retention``: the same key with the same request
/// gets the first answer again; with another request, a conflict (Stripe's rule).
public enum IdempotencyKeys {
    public static let retention: Duration = .seconds(86_400)

    /// What was answered under a key.
    public struct Stored: Sendable, Equatable {
        public let requestHash: String
        public let status: Int
        public let response: String

        public init(requestHash: String, status: Int, response: String) {
            self.requestHash = requestHash
            self.status = status
            self.response = response
        }
    }

    /// A key as a partner may send it: 1 to 255 printable ASCII characters.
    public static func isValid(_ key: String) -> Bool {
        !key.isEmpty && key.utf8.count <= 255 && key.utf8.allSatisfy { $0 >= 0x21 && $0 <= 0x7e }
    }

    /// The hash a request is compared by: SHA-256 of its canonical form.
    public static func hash(_ canonical: String) -> String {
        SHA256.hash(data: Array(canonical.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// The answer stored under the key within the retention, if any.
    public static func find(partner: UUID, key: String, on db: PostgresConnection) throws -> Stored? {
        try db.query("""
            SELECT request_hash, status, response FROM idempotency_keys
            WHERE partner_id = $1 AND key = $2 AND created_at > now() - make_interval(secs => $3)
            """, [partner, key, retention.inSeconds]).rows.first.map(stored)
    }

    /// Stores an answer under the key, unless one within the retention is there. - Returns: what is
    /// stored now (the earlier answer when another request stored one first).
    public static func store(partner: UUID, key: String, _ answer: Stored, on db: PostgresConnection) throws -> Stored {
        let rows = try db.query("""
            INSERT INTO idempotency_keys (partner_id, key, request_hash, status, response) VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (partner_id, key) DO UPDATE SET request_hash = EXCLUDED.request_hash, status = EXCLUDED.status,
                response = EXCLUDED.response, created_at = now()
            WHERE idempotency_keys.created_at <= now() - make_interval(secs => $6)
            RETURNING request_hash, status, response
            """, [partner, key, answer.requestHash, answer.status, answer.response, retention.inSeconds]).rows
        if let row = rows.first { return try stored(row) }
        guard let existing = try find(partner: partner, key: key, on: db) else { return answer }
        return existing
    }

    private static func stored(_ row: PostgresRow) throws -> Stored {
        Stored(requestHash: try row.decode("request_hash"), status: try row.decode("status"), response: try row.decode("response"))
    }
}
