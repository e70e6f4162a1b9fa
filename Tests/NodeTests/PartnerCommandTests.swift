import ActorRuntime
import Bridges
import Domain
import Foundation
import Testing

/// `troupe partner add` against the project's PostgreSQL.
@Suite struct PartnerCommandTests {
    static let databaseURL = ProcessInfo.processInfo.environment["TROUPE_DATABASE_URL"] ?? "postgresql://troupe:troupe@127.0.0.1:5439/troupe"
    static let env = ["TROUPE_DATABASE_URL": databaseURL]
    static let secret = "dev-only-secret-change-me-in-production"      // the shipped topology's

    @Test func addPrintsTheKeyOnceAndStoresOnlyItsHash() async throws {
        let name = "acme-\(UUID().uuidString.prefix(8))"
        let r = try await CLI.run(["partner", "add", name, "--wallet", "1000.50", "--price-percent", "97.5", "--topology", CLI.repoTopology],
                            environment: Self.env)
        #expect(r.code == 0, "\(r.err)")
        let key = try #require(r.out.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.first { $0.hasPrefix("tk_") })
        #expect(key.count == 46, "tk_ and 32 bytes of base64url")
        #expect(r.out.contains("Wallet: 1000.50; price: 97.5% of face value."))

        let pool = PostgresPool(.init(url: Self.databaseURL, size: 1))
        let registry = PartnerRegistry(pool: pool, keySecret: Self.secret)
        let caller = try #require(try await registry.caller(forKey: key))
        #expect(caller.name == name)
        #expect(try await registry.caller(forKey: key + "x") == nil)
        #expect(try await PartnerRegistry(pool: pool, keySecret: Self.secret + "!").caller(forKey: key) == nil, "the hash depends on the secret")
        try await pool.withConnection { db in
            // Only the hash and a prefix are stored: no column of any row holds the key.
            let stored = try db.query("SELECT encode(key_hash, 'hex') AS h, key_prefix FROM partner_api_keys WHERE partner_id = $1", [caller.partnerID]).rows
            #expect(stored.count == 1)
            #expect(try stored[0].decode("key_prefix", as: String.self) == String(key.prefix(10)))
            #expect(try stored[0].decode("h", as: String.self) == APIKey(text: key).hash(secret: Self.secret).map { String(format: "%02x", $0) }.joined())
            let leaked = try db.query("SELECT count(*) AS n FROM partners p JOIN partner_api_keys k ON k.partner_id = p.id WHERE p.name = $2 AND (p::text LIKE '%' || $1 || '%' OR k::text LIKE '%' || $1 || '%')",
                                      [String(key.dropFirst(10)), name]).rows
            #expect(try leaked[0].decode("n", as: Int.self) == 0)
            let wallet = try db.query("""
                SELECT w.balance, (SELECT sum(amount) FROM wallet_entries e WHERE e.partner_id = w.partner_id) AS ledger
                FROM wallets w WHERE w.partner_id = $1
                """, [caller.partnerID]).rows
            #expect(try wallet[0].decode("balance", as: Decimal.self) == Decimal(string: "1000.50"))
            #expect(try wallet[0].decode("ledger", as: Decimal.self) == Decimal(string: "1000.50"))
        }
        await pool.shutdown()

        let again = try await CLI.run(["partner", "add", name, "--topology", CLI.repoTopology], environment: Self.env)
        #expect(again.code == 1)
        #expect(again.err.contains("a partner named '\(name)' already exists"))
    }

    @Test(arguments: [
        (["--wallet=-5"], "--wallet: '-5' is not an amount"),
        (["--wallet", "12.345"], "--wallet: '12.345' is not an amount"),
        (["--wallet", "lots"], "--wallet: 'lots' is not an amount"),
        (["--price-percent", "0"], "--price-percent: '0' must be a number above 0"),
        (["--price-percent", "250"], "--price-percent: '250' must be a number above 0 and at most 200"),
    ])
    func badOptionsAreNamed(args: [String], expected: String) async throws {
        let r = try await CLI.run(["partner", "add", "x-\(UUID().uuidString.prefix(6))"] + args + ["--topology", CLI.repoTopology], environment: Self.env)
        #expect(r.code == 2)
        #expect(r.err.contains(expected), "\(r.err)")
        #expect(r.err.split(separator: "\n").count == 1)
    }

    @Test func priceSetsThePartnersPriceForOneProductAndDefaultTakesItBack() async throws {
        let pool = PostgresPool(.init(url: Self.databaseURL, size: 1))
        _ = try await Migrator(pool: pool, migrations: DomainSchema.allMigrations()).run()
        let registry = PartnerRegistry(pool: pool, keySecret: Self.secret)
        let partner = try await registry.add(name: "price-\(UUID().uuidString.prefix(8))", wallet: 0, pricePercent: 100)
        let sku = "PRICE-\(UUID().uuidString.prefix(8))", other = sku + "-B"
        try await pool.withConnection { db in
            for s in [sku, other] {
                try db.query("INSERT INTO products (internal_id, sku, name, brand, currency, min_face_value, max_face_value) VALUES ($1, $1, 'Card', 'Brand', 'USD', 5, 500)", [s])
            }
        }
        func prices() async throws -> [String: JSONValue] {
            let catalog = try await pool.withConnection { try PartnerCatalog.json(partner: partner.id, on: $0) }
            guard case .array(let products)? = catalog["products"] else { return [:] }
            var out: [String: JSONValue] = [:]
            for p in products { if case .string(let s)? = p["sku"], [sku, other].contains(s) { out[s] = p["pricePercent"] } }
            return out
        }
        let set = try await CLI.run(["partner", "price", partner.name, sku, "92.5", "--topology", CLI.repoTopology], environment: Self.env)
        #expect(set.code == 0, "\(set.err)")
        #expect(set.out.contains("Partner '\(partner.name)' pays 92.5% of face value for \(sku)"))
        #expect(try await prices() == [sku: .number(92.5), other: .number(100)], "only that product")
        let again = try await CLI.run(["partner", "price", partner.name, sku, "95", "--topology", CLI.repoTopology], environment: Self.env)
        let afterAgain = try await prices()
        #expect(again.code == 0 && afterAgain[sku] == .number(95), "set again: replaced")
        let back = try await CLI.run(["partner", "price", partner.name, sku, "default", "--topology", CLI.repoTopology], environment: Self.env)
        #expect(back.code == 0 && back.out.contains("pays its default price for \(sku)"))
        #expect(try await prices() == [sku: .number(100), other: .number(100)])

        let unknownSKU = try await CLI.run(["partner", "price", partner.name, sku + "-none", "90", "--topology", CLI.repoTopology], environment: Self.env)
        #expect(unknownSKU.code == 1 && unknownSKU.err.contains("no product with SKU '\(sku)-none'"), "\(unknownSKU.err)")
        let unknownPartner = try await CLI.run(["partner", "price", "nobody-\(UUID())", sku, "90", "--topology", CLI.repoTopology], environment: Self.env)
        #expect(unknownPartner.code == 1 && unknownPartner.err.contains("no partner named"), "\(unknownPartner.err)")
        for bad in ["0", "200.5", "9x", "1e2", "97.1234", ".5", "+90", ""] {
            let r = try await CLI.run(["partner", "price", partner.name, sku, bad, "--topology", CLI.repoTopology], environment: Self.env)
            #expect(r.code == 2 && r.err.contains("PERCENT: '\(bad)' must be a number above 0 and at most 200"), "\(bad): \(r.err)")
        }
        let afterRefused = try await prices()
        #expect(afterRefused[sku] == .number(100), "a refused price changes nothing")
        await pool.shutdown()
    }

    /// Issue 19 §2: an operator's top-up is a ledger entry saying who and why; bad amounts are named.
    @Test func topupCreditsTheWalletWithWhoAndWhy() async throws {
        let name = "topup-\(UUID().uuidString.prefix(8))"
        #expect(try await CLI.run(["partner", "add", name, "--wallet", "10", "--topology", CLI.repoTopology], environment: Self.env).code == 0)
        let r = try await CLI.run(["partner", "topup", name, "250.50", "--reason", "goodwill credit, ticket 42", "--by", "ops alice",
                                   "--topology", CLI.repoTopology], environment: Self.env)
        #expect(r.code == 0 && r.out.contains("topped up 250.50; balance 260.50"), "\(r.out) \(r.err)")
        let pool = PostgresPool(.init(url: Self.databaseURL, size: 1))
        let rows = try await pool.withConnection { db in
            try db.query("""
                SELECT e.created_by, e.reason, e.amount, w.balance FROM wallet_entries e JOIN partners p ON p.id = e.partner_id
                JOIN wallets w ON w.partner_id = p.id WHERE p.name = $1 AND e.reason IS NOT NULL
                """, [name]).rows
        }
        await pool.shutdown()
        #expect(rows.count == 1)
        #expect(try rows.first?.decode("created_by", as: String.self) == "ops alice")
        #expect(try rows.first?.decode("reason", as: String.self) == "goodwill credit, ticket 42")
        #expect(try rows.first?.decode("balance", as: Decimal.self) == Decimal(string: "260.5"))
        for (amount, expected) in [("0", "AMOUNT: '0'"), ("1.234", "AMOUNT: '1.234'"), ("ten", "AMOUNT: 'ten'")] {
            let bad = try await CLI.run(["partner", "topup", name, amount, "--reason", "x", "--topology", CLI.repoTopology], environment: Self.env)
            #expect(bad.code == 2 && bad.err.contains(expected), "\(bad.err)")
        }
        let unknown = try await CLI.run(["partner", "topup", "no-such-\(name)", "5", "--reason", "x", "--topology", CLI.repoTopology], environment: Self.env)
        #expect(unknown.code == 1 && unknown.err.contains("no partner named"), "\(unknown.err)")
    }

    @Test func aTopologyWithoutAKeySecretIsRefusedNamingTheKey() async throws {
        let path = try CLI.writeTopology("""
            { "broker": { "url": "amqp://h" }, "database": { "url": "\(Self.databaseURL)" },
              "nodes": [ { "name": "a", "components": [ { "name": "order-queue" }, { "name": "brand-sync" }, { "name": "inventory" },
                                                        { "name": "payment" }, { "name": "notification" }, { "name": "analytics" } ] } ] }
            """)
        let r = try await CLI.run(["partner", "add", "nobody", "--topology", path], environment: Self.env)
        #expect(r.code == 2)
        #expect(r.err.contains("security.apiKeySecret: is needed to handle API keys (or set TROUPE_API_KEY_SECRET)"), "\(r.err)")
    }
}
