import Logging

/// Applies migrations in version order, each in its own transaction, recording them in
/// `troupe_migrations`. A PostgreSQL advisory lock serialises migrators, so nodes starting together
/// never race: the second waits, then finds everything applied.
public struct Migrator: Sendable {
    /// The advisory lock key ("troupe" in ASCII).
    static let lockKey: Int64 = 0x74_72_6f_75_70_65

    public let pool: PostgresPool
    public let migrations: [Migration]
    public let logger: Logger

    public init(pool: PostgresPool, migrations: [Migration], logger: Logger = Logger(label: "troupe.migrate")) {
        self.pool = pool
        self.migrations = migrations
        self.logger = logger
    }

    /// Applies what is missing and returns it (empty when the database was up to date).
    /// - Throws: ``MigrationError/changedAfterApply(_:)`` when an applied file was edited, or the
    ///   ``PostgresError`` of a failing migration (its transaction is rolled back, later ones are not run).
    @discardableResult
    public func run() async throws -> [Migration] {
        let migrations = try Migration.ordered(self.migrations)
        let logger = self.logger
        return try await pool.withConnection { db in
            try db.query("SELECT pg_advisory_lock($1)", [Self.lockKey])
            defer { _ = try? db.query("SELECT pg_advisory_unlock($1)", [Self.lockKey]) }
            try db.query("""
                CREATE TABLE IF NOT EXISTS troupe_migrations (
                    version    integer     PRIMARY KEY,
                    name       text        NOT NULL,
                    checksum   text        NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now())
                """)
            var applied: [Int: String] = [:]
            for row in try db.query("SELECT version, checksum FROM troupe_migrations").rows {
                applied[try row.decode("version")] = try row.decode("checksum", as: String.self)
            }
            var done: [Migration] = []
            for migration in migrations {
                if let checksum = applied[migration.version] {
                    guard checksum == migration.checksum else { throw MigrationError.changedAfterApply(migration.fileName) }
                    continue
                }
                try db.transaction { tx in
                    try tx.execute(script: migration.sql)
                    try tx.query("INSERT INTO troupe_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                                 [migration.version, migration.name, migration.checksum])
                }
                logger.info("migration applied", metadata: ["migration": "\(migration.fileName)"])
                done.append(migration)
            }
            return done
        }
    }
}
