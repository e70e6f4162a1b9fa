import ArgumentParser
import Bridges
import Domain
import Foundation

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
            abstract: "Create a partner and print its API key once (stored only as an HMAC-SHA256 hash).",
            discussion: """
            The partner pays --price-percent of the face value for every product (100 = face value, 97.5 = a 2.5% \
            discount), from its wallet, which starts with --wallet (a top-up in its ledger).
            """
        )

        @Argument(help: "The partner's name.")
        var name: String

        @Option(help: ArgumentHelp("Initial wallet balance (e.g. 1000 or 250.50).", valueName: "AMOUNT"))
        var wallet: String = "0"

        @Option(help: ArgumentHelp("What the partner pays per unit of face value, in percent.", valueName: "PERCENT"))
        var pricePercent: String = "100"

        @OptionGroup var options: TopologyOption

        func run() async throws {
            let topology = try options.load()
            let secret = try options.apiKeySecret(of: topology)
            let trimmed = name.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty, trimmed.count <= 200 else { throw CLIError.usage("NAME: must be 1 to 200 characters") }
            guard let amount = Money.parse(wallet), amount >= 0 else {
                throw CLIError.usage("--wallet: '\(wallet)' is not an amount like 1000 or 250.50")
            }
            guard let percent = Decimal(string: pricePercent, locale: Locale(identifier: "en_US_POSIX")), percent > 0, percent <= 200 else {
                throw CLIError.usage("--price-percent: '\(pricePercent)' must be a number above 0 and at most 200")
            }
            let pool = PostgresPool(.init(url: topology.database.url, size: 1, applicationName: "troupe partner add"))
            do {
                _ = try await Migrator(pool: pool, migrations: DomainSchema.allMigrations()).run()
                let created = try await PartnerRegistry(pool: pool, keySecret: secret).add(name: trimmed, wallet: amount, pricePercent: percent)
                await pool.shutdown()
                print("""
                    Partner '\(created.name)' created (id \(created.id.lowercasedString)).
                    API key (shown only now; Troupe keeps just its hash):
                      \(created.key.text)
                    Wallet: \(Money.format(created.wallet)); price: \(created.pricePercent)% of face value.
                    """)
            } catch let error as PostgresError {
                await pool.shutdown()
                if error.sqlState == "23505" { throw CLIError(message: "a partner named '\(trimmed)' already exists", exitCode: 1) }
                if error.isConnectionFailure {
                    throw CLIError(message: "cannot reach PostgreSQL at \(Redact.url(topology.database.url)): \(error.message)", exitCode: 69)
                }
                throw CLIError(message: "partner add failed: \(error.message)", exitCode: 1)
            }
        }
    }
}
