@testable import Bridges
import Foundation
import Testing

@Suite struct MigratorTests {
    static let sample = [
        Migration(version: 1, name: "accounts", sql: "CREATE TABLE accounts (id int PRIMARY KEY);"),
        Migration(version: 2, name: "seed", sql: "INSERT INTO accounts VALUES (1); INSERT INTO accounts VALUES (2);"),
    ]

    @Test func migrationsRunTwiceConcurrentlyApplyOnce() async throws {
        let db = try TestDatabase()
        defer { db.drop() }
        let a = db.pool(size: 1), b = db.pool(size: 1)
        defer { Task { await a.shutdown(); await b.shutdown() } }
        async let first = Migrator(pool: a, migrations: Self.sample).run()
        async let second = Migrator(pool: b, migrations: Self.sample).run()
        let (x, y) = try await (first, second)
        #expect(x.count + y.count == 2, "each migration applied exactly once")
        #expect(Set((x + y).map(\.version)) == [1, 2])
        let count = try await a.withConnection { try $0.query("SELECT count(*) AS n FROM accounts").rows[0].decode("n", as: Int.self) }
        #expect(count == 2)
        #expect(try await Migrator(pool: a, migrations: Self.sample).run().isEmpty)
    }

    @Test func aFailingMigrationIsRolledBackAndStopsTheRun() async throws {
        let db = try TestDatabase()
        defer { db.drop() }
        let pool = db.pool(size: 1)
        defer { Task { await pool.shutdown() } }
        let broken = Self.sample + [Migration(version: 3, name: "broken", sql: "CREATE TABLE half (id int); SELEC 1;"),
                                    Migration(version: 4, name: "later", sql: "CREATE TABLE later (id int);")]
        await #expect(throws: PostgresError.self) { try await Migrator(pool: pool, migrations: broken).run() }
        let tables = try await pool.withConnection { db in
            try db.query("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 1")
                .rows.map { try $0.decode("table_name", as: String.self) }
        }
        #expect(tables == ["accounts", "troupe_migrations"])
    }

    @Test func anEditedMigrationIsRefused() async throws {
        let db = try TestDatabase()
        defer { db.drop() }
        let pool = db.pool(size: 1)
        defer { Task { await pool.shutdown() } }
        try await Migrator(pool: pool, migrations: Self.sample).run()
        let edited = [Self.sample[0], Migration(version: 2, name: "seed", sql: "INSERT INTO accounts VALUES (3);")]
        await #expect(throws: MigrationError.changedAfterApply("0002_seed.sql")) { try await Migrator(pool: pool, migrations: edited).run() }
    }

    @Test func theBundledMigrationsApplyAndFilesAreValidated() async throws {
        let bundled = try Migration.bundled()
        #expect(bundled.first?.fileName == "0001_inbox_outbox.sql")
        let db = try TestDatabase()
        defer { db.drop() }
        let pool = db.pool(size: 1)
        defer { Task { await pool.shutdown() } }
        #expect(try await Migrator(pool: pool, migrations: bundled).run().count == bundled.count)

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("migrations-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try "SELECT 1;".write(to: dir.appendingPathComponent("first.sql"), atomically: true, encoding: .utf8)
        #expect(throws: MigrationError.badFileName("first.sql")) { try Migration.load(directory: dir) }
        try FileManager.default.removeItem(at: dir.appendingPathComponent("first.sql"))
        try "SELECT 1;".write(to: dir.appendingPathComponent("0001_a.sql"), atomically: true, encoding: .utf8)
        try "SELECT 2;".write(to: dir.appendingPathComponent("001_b.sql"), atomically: true, encoding: .utf8)
        #expect(throws: MigrationError.duplicateVersion(1, "0001_a.sql", "0001_b.sql")) { try Migration.load(directory: dir) }
    }
}
