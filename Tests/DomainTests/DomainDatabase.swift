@testable import Bridges
@testable import Domain
import Foundation

/// A private schema with Troupe's and the domain's tables, for one test; dropped afterwards.
struct DomainDatabase {
    static let url = ProcessInfo.processInfo.environment["TROUPE_DATABASE_URL"] ?? "postgresql://troupe:troupe@127.0.0.1:5439/troupe"
    let schema = "d_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
    let pool: PostgresPool

    init() async throws {
        try PostgresConnection(url: Self.url).query("CREATE SCHEMA \(schema)")
        pool = PostgresPool(.init(url: Self.url, size: 3, applicationName: schema, schema: schema))
        try await Migrator(pool: pool, migrations: DomainSchema.allMigrations()).run()
    }

    func drop() async {
        await pool.shutdown()
        _ = try? PostgresConnection(url: Self.url).query("DROP SCHEMA \(schema) CASCADE")
    }

    /// The ledger's debit of `order` (25, its partner's), as Payment writes it.
    func recordDebit(of order: UUID) async throws {
        try await pool.withConnection { c in
            try c.query("""
                INSERT INTO wallet_entries (partner_id, kind, amount, idempotency_key, order_id)
                SELECT partner_id, 'debit', -25, $2, id FROM orders WHERE id = $1
                """, [order, Payment.debitKey(order)])
        }
    }

    /// A partner (wallet 100), a product with `stock` units, and an order of it in `step`, last moved
    /// `idleSeconds` ago; returns the order's id.
    func order(step: String, idleSeconds: Int, stock: Int = 10) async throws -> UUID {
        let partner = try await PartnerRegistry(pool: pool, keySecret: "domain-test-secret-123").add(name: "p-\(UUID())", wallet: 100, pricePercent: 100)
        let id = UUID.v7()
        try await pool.transaction { db in
            let sku = "D-\(UUID().uuidString.prefix(8))"
            try db.query("INSERT INTO products (internal_id, sku, name, brand, currency, min_face_value, max_face_value) VALUES ($1, $1, 'x', 'x', 'USD', 5, 500)", [sku])
            try db.query("INSERT INTO inventory_stock (product_id, available) SELECT id, $2 FROM products WHERE sku = $1", [sku, stock])
            try db.query("""
                INSERT INTO orders (id, partner_id, reference_id, product_id, sku, face_value, quantity, unit_price, total, currency, status, step,
                                    correlation_id, created_at, updated_at)
                SELECT $1, $2, $3, id, sku, 25, 1, 25, 25, 'USD', 'Processing', $4, 'req-d', now() - make_interval(secs => $5), now() - make_interval(secs => $5)
                FROM products WHERE sku = $6
                """, [id, partner.id, "ref-\(id.lowercasedString)", step, idleSeconds, sku])
        }
        return id
    }
}
