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
        let pool = PostgresPool(.init(url: topology.database.url, size: 1, applicationName: "troupe migrate"))
        // Shut down before returning, on every path: a shutdown left to a task raced the process's exit
        // (its connection thread still closing while the process tore down: SIGABRT, seen once under load).
        let outcome: Result<[Migration], any Error>
        do {
            outcome = .success(try await Migrator(pool: pool, migrations: try DomainSchema.allMigrations()).run())
        } catch {
            outcome = .failure(error)
        }
        await pool.shutdown()
        switch outcome {
        case .success(let applied) where applied.isEmpty:
            print("Database \(Redact.url(topology.database.url)) is up to date.")
        case .success(let applied):
            for m in applied { print("applied \(m.fileName)") }
            print("Database \(Redact.url(topology.database.url)): \(applied.count) migration(s) applied.")
        case .failure(let error as PostgresError) where error.isConnectionFailure:
            throw CLIError(message: "cannot reach PostgreSQL at \(Redact.url(topology.database.url)): \(error.message)", exitCode: 69)
        case .failure(let error):
            throw CLIError(message: "migration failed: \(error)", exitCode: 1)
        }
    }
}
