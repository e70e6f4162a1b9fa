import ArgumentParser

/// `troupe migrate`: database migrations.
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply the database migrations, in order, once (nodes also run them at start)."
    )

    @OptionGroup var options: TopologyOption

    func run() async throws {
        _ = try options.load()
        throw CLIError.notYetAvailable("troupe migrate", "migrations land with the PostgreSQL bridge (issue 4)")
    }
}
