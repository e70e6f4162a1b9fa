import ActorRuntime
import Bridges
import Foundation

/// Partners of the HTTP API: created with an API key (stored as a hash), a wallet and a price.
public struct PartnerRegistry: Sendable {
    /// A partner just created, with the only copy of its key.
    public struct Created: Sendable {
        public let id: UUID
        public let name: String
        public let key: APIKey
        public let wallet: Decimal
        public let pricePercent: Decimal
    }

    /// Who sent a request, from its key.
    public struct Caller: Sendable, Equatable {
        public let partnerID: UUID
        public let name: String
    }

    public let pool: PostgresPool
    /// The HMAC secret API keys are hashed with.
    public let keySecret: String

    public init(pool: PostgresPool, keySecret: String) {
        self.pool = pool
        self.keySecret = keySecret
    }

    /// Creates partner `name` with a new API key, a wallet topped up with `wallet` (a ledger entry) and
    /// `pricePercent`: what it pays per unit of face value for every product, unless a product has a
    /// price of its own for it.
    public func add(name: String, wallet: Decimal, pricePercent: Decimal) async throws -> Created {
        let id = UUID.v7(), key = APIKey.generate(), hash = PostgresBytes(key.hash(secret: keySecret))
        try await pool.transaction { db in
            try db.query("INSERT INTO partners (id, name, default_price_percent) VALUES ($1, $2, $3)", [id, name, pricePercent])
            try db.query("INSERT INTO partner_api_keys (key_hash, partner_id, key_prefix) VALUES ($1, $2, $3)", [hash, id, key.prefix])
            try db.query("INSERT INTO wallets (partner_id, balance) VALUES ($1, $2)", [id, wallet])
            if wallet > 0 {
                try db.query("INSERT INTO wallet_entries (partner_id, kind, amount, idempotency_key) VALUES ($1, 'topup', $2, $3)",
                             [id, wallet, "\(id.lowercasedString):initial-topup"])
            }
            try TransactionalOutbox.emit(Envelope(topic: DomainTopic.partnerCreated, producerId: Component.payment.rawValue,
                                                  correlationId: "partner-\(id.lowercasedString)", payload: .object([
                "partnerId": .string(id.lowercasedString), "name": .string(name),
                "pricePercent": .number(NSDecimalNumber(decimal: pricePercent).doubleValue), "wallet": Money.json(wallet),
            ])), on: db)
        }
        return Created(id: id, name: name, key: key, wallet: wallet, pricePercent: pricePercent)
    }

    /// The partner a key belongs to, or nil for an unknown or revoked key.
    public func caller(forKey text: String) async throws -> Caller? {
        try await caller(forHash: APIKey(text: text).hash(secret: keySecret))
    }

    /// The partner whose key has HMAC `hash`, or nil.
    func caller(forHash hash: [UInt8]) async throws -> Caller? {
        let rows = try await pool.withConnection { db in
            try db.query("""
                SELECT k.key_hash, p.id, p.name FROM partner_api_keys k JOIN partners p ON p.id = k.partner_id
                WHERE k.key_hash = $1 AND k.revoked_at IS NULL
                """, [PostgresBytes(hash)]).rows
        }
        guard let row = rows.first, APIKey.constantTimeEqual(try row.decode("key_hash", as: PostgresBytes.self).bytes, hash) else { return nil }
        return Caller(partnerID: try row.decode("id"), name: try row.decode("name"))
    }
}

extension PartnerRegistry {
    /// A partner's name was not found.
    public struct UnknownPartner: Error, CustomStringConvertible {
        public let name: String
        public var description: String { "no partner named '\(name)'" }
    }

    /// Points partner `name`'s webhook at `url` with a new signing secret, which it returns (the only copy
    /// in plain; stored sealed with `vault`, since Troupe must read it to sign).
    public func setWebhook(partner name: String, url: String, vault: CardVault) async throws -> String {
        let secret = WebhookSignature.newSecret()
        try await pool.transaction { db in
            guard let row = try db.query("SELECT id FROM partners WHERE name = $1", [name]).rows.first else { throw UnknownPartner(name: name) }
            let id: UUID = try row.decode("id")
            let sealed = try vault.seal(.string(secret), context: Self.webhookContext(id))
            try db.query("""
                INSERT INTO partner_webhooks (partner_id, url, secret_sealed) VALUES ($1, $2, $3)
                ON CONFLICT (partner_id) DO UPDATE SET url = excluded.url, secret_sealed = excluded.secret_sealed, updated_at = now()
                """, [id, url, sealed])
        }
        return secret
    }

    /// Sets partner `name`'s email address (nil: no email).
    public func setEmail(partner name: String, email: String?) async throws {
        let updated = try await pool.withConnection { db in
            try db.query("UPDATE partners SET email = $2 WHERE name = $1", [name, email]).affectedRows
        }
        guard updated == 1 else { throw UnknownPartner(name: name) }
    }

    public struct UnknownProduct: Error, CustomStringConvertible {
        public let sku: String
        public var description: String { "no product with SKU '\(sku)'" }
    }

    /// Sets what partner `name` pays for the product `sku`, in percent of its face value, instead of its
    /// default price; nil: its default again. Orders accepted from then on are priced with it, and the
    /// partner's catalog shows it.
    public func setPrice(partner name: String, sku: String, percent: Decimal?) async throws {
        try await pool.transaction { db in
            guard let partner: UUID = try db.query("SELECT id FROM partners WHERE name = $1", [name]).rows.first?.decode("id") else {
                throw UnknownPartner(name: name)
            }
            guard let product: Int64 = try db.query("SELECT id FROM products WHERE sku = $1", [sku]).rows.first?.decode("id") else {
                throw UnknownProduct(sku: sku)
            }
            if let percent {
                try db.query("""
                    INSERT INTO partner_pricing (partner_id, product_id, price_percent) VALUES ($1, $2, $3)
                    ON CONFLICT (partner_id, product_id) DO UPDATE SET price_percent = EXCLUDED.price_percent
                    """, [partner, product, percent])
            } else {
                try db.query("DELETE FROM partner_pricing WHERE partner_id = $1 AND product_id = $2", [partner, product])
            }
        }
    }

    /// An operator's top-up of partner `name`'s wallet: a ledger entry saying who made it and why.
    /// - Returns: the new balance.
    public func topUp(partner name: String, amount: Decimal, by who: String, reason: String) async throws -> Decimal {
        // The key is chosen once: a transaction run again after a lost COMMIT finds its entry, not a second one.
        let key = "operator-topup:\(UUID.v7().lowercasedString)"
        return try await pool.transaction { db in
            guard let partner: UUID = try db.query("SELECT id FROM partners WHERE name = $1", [name]).rows.first?.decode("id") else {
                throw UnknownPartner(name: name)
            }
            if let balance = try WalletLedger.topUp(partner: partner, amount: amount, key: key, createdBy: who, reason: reason, on: db) {
                return balance
            }
            // Written already (this transaction ran again), or a partner without a wallet.
            guard let balance: Decimal = try db.query("SELECT balance FROM wallets WHERE partner_id = $1", [partner]).rows.first?.decode("balance"),
                  try !db.query("SELECT 1 FROM wallet_entries WHERE idempotency_key = $1", [key]).rows.isEmpty else {
                throw UnknownPartner(name: name)
            }
            return balance
        }
    }

    /// What a partner's sealed webhook secret is authenticated with.
    public static func webhookContext(_ partner: UUID) -> String { "webhook:\(partner.lowercasedString)" }
}
