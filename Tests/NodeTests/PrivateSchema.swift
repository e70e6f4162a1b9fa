import Bridges
import Foundation

/// A schema of its own in the test database, for nodes started with `database.schema`: their tables,
/// limiters and schedules are theirs alone, whatever other suites run beside them.
struct PrivateSchema: Sendable {
    static let databaseURL = ComponentQueues.NodeRuntimeTests.databaseURL
    let name = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12).lowercased()
    /// Connections whose unqualified names resolve to the schema.
    let pool: PostgresPool

    init() { pool = PostgresPool(.init(url: Self.databaseURL, size: 2, schema: name)) }

    /// The column `v` of the first row of `sql`.
    func scalar<T: PostgresDecodable>(_ sql: String, _ parameters: [any PostgresEncodable] = []) async throws -> T {
        try await pool.withConnection { db in try db.query(sql, parameters).rows[0].decode("v") }
    }

    /// Closes the pool and drops the schema with everything in it.
    func drop() async {
        await pool.shutdown()
        let admin = PostgresPool(.init(url: Self.databaseURL, size: 1))
        _ = try? await admin.withConnection { db in try db.query("DROP SCHEMA \(name) CASCADE") }
        await admin.shutdown()
    }
}
