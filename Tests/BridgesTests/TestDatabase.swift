@testable import Bridges
import Foundation

/// A private schema in the project's PostgreSQL for one test, dropped afterwards, so tests never see
/// each other's tables. The server is the one `scripts/services.sh` starts (TROUPE_DATABASE_URL).
struct TestDatabase {
    static let url = ProcessInfo.processInfo.environment["TROUPE_DATABASE_URL"] ?? "postgresql://troupe:troupe@127.0.0.1:5439/troupe"

    let schema: String

    init() throws {
        schema = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
        let admin = try PostgresConnection(url: Self.url)
        try admin.query("CREATE SCHEMA \(schema)")
    }

    /// A pool whose connections resolve names in this test's schema, and carry it as their
    /// application name (so a test can find its own backends in `pg_stat_activity`).
    func pool(size: Int = 2) -> PostgresPool {
        PostgresPool(.init(url: Self.url, size: size, applicationName: schema, schema: schema))
    }

    /// A connection outside any pool (for the test's own side channel).
    func connection() throws -> PostgresConnection {
        try PostgresConnection(url: Self.url, schema: schema)
    }

    func drop() {
        _ = try? PostgresConnection(url: Self.url).query("DROP SCHEMA \(schema) CASCADE")
    }
}
