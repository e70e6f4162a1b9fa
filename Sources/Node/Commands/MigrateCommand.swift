import ArgumentParser
import Bridges
import Domain
import Foundation

/// `troupe migrate`: database migrations.
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply the database migrations, in order, once (nodes also run them at start).",
        discussion: "Safe to run while nodes start: an advisory lock lets one migrator work at a time."
    )

    @OptionGroup var options: TopologyOption

    func run() async throws {
        let topology = try options.load()
        let pool = topology.database.pool(size: 1, applicationName: "troupe migrate")
        let applied: [Migration]
        do {
            applied = try await withCleanup { try await topology.database.migrate(pool) }
                cleanup: { await pool.shutdown() }
        } catch let error as PostgresError where error.isConnectionFailure {
            throw CLIError(message: "cannot reach PostgreSQL at \(Redact.url(topology.database.url)): \(error.message)", exitCode: 69)
        } catch {
            throw CLIError(message: "migration failed: \(error)", exitCode: 1)
        }
        if applied.isEmpty {
            print("Database \(Redact.url(topology.database.url)) is up to date.")
        } else {
            for m in applied { print("applied \(m.fileName)") }
            print("Database \(Redact.url(topology.database.url)): \(applied.count) migration(s) applied.")
        }
    }
}
