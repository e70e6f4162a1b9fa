import Bridges
import Domain
import Foundation
@testable import Node
import Testing

/// `/metrics`' whole-table counts are taken at most once per interval, against the project's PostgreSQL.
@Suite struct TableCountsTests {
    @Test func countsAreTakenAgainOnlyOnceTheirIntervalHasPassed() async throws {
        let pool = PostgresPool(.init(url: ComponentQueues.NodeRuntimeTests.databaseURL, size: 1))
        let component = "test-counts-\(UUID().uuidString.prefix(8).lowercased())"
        defer {
            Task {
                _ = try? await pool.withConnection { db in try db.query("DELETE FROM troupe_inbox WHERE component = $1", [component]) }
                await pool.shutdown()
            }
        }
        try await Migrator(pool: pool, migrations: DomainSchema.allMigrations()).run()      // a fresh database has no tables yet
        let cached = TableCounts(every: .seconds(3600)), fresh = TableCounts(every: .zero)
        func handled(_ counts: TableCounts) async throws -> Int? {
            try await pool.withConnection { db in try counts.current(db).handled.first { $0.component == component }?.count }
        }
        #expect(try await handled(cached) == nil)
        try await pool.withConnection { db in
            try db.query("INSERT INTO troupe_inbox (component, envelope_id) VALUES ($1, $2)", [component, UUID()])
        }
        #expect(try await handled(cached) == nil, "within its interval: the counts taken before")
        #expect(try await handled(fresh) == 1, "past it: counted again")
    }
}
