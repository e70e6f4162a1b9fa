import ArgumentParser

/// `troupe partner add NAME`: partners of the HTTP API.
struct PartnerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "partner",
        abstract: "Manage API partners.",
        subcommands: [Add.self]
    )

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add",
            abstract: "Create a partner and print its API key once (stored only as an HMAC-SHA256 hash)."
        )

        @Argument(help: "The partner's name.")
        var name: String

        @Option(help: ArgumentHelp("Initial wallet balance.", valueName: "AMOUNT"))
        var wallet: String?

        @OptionGroup var options: TopologyOption

        func run() async throws {
            _ = try options.load()
            throw CLIError.notYetAvailable("troupe partner add", "partners land with the HTTP edge (issue 5)")
        }
    }
}
