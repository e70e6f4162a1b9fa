import ArgumentParser
import Bridges
import Domain
import Foundation

/// `troupe partner add NAME`, `partner webhook NAME URL`, `partner email NAME ADDRESS`, `partner price NAME
/// SKU PERCENT`: partners of the HTTP API, where their notifications go, and their prices.
struct PartnerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "partner",
        abstract: "Manage API partners.",
        subcommands: [Add.self, Webhook.self, Email.self, Price.self, TopUp.self]
    )

    /// Runs `body` with a one-connection pool of `topology` (migrated), mapping database errors and
    /// unknown names to CLI errors.
    static func withRegistry(_ topology: Topology, keySecret: String, command: String,
                             _ body: (PartnerRegistry) async throws -> Void) async throws {
        try await CLIError.onDatabase(topology, command: command) { pool in
            do {
                try await body(PartnerRegistry(pool: pool, keySecret: keySecret))
            } catch let error as PartnerRegistry.UnknownPartner {
                throw CLIError(message: error.description, exitCode: 1)
            } catch let error as PartnerRegistry.UnknownProduct {
                throw CLIError(message: error.description, exitCode: 1)
            }
        }
    }

    struct Webhook: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "webhook",
            abstract: "Send the partner's notifications to a webhook URL, and print its new signing secret once.",
            discussion: """
            Each notification is a JSON POST with `Troupe-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>` \
            and `Troupe-Event-Id`. Running it again sets a new URL and a new secret (the old one stops working).
            """
        )

        @Argument(help: "The partner's name.")
        var name: String

        @Argument(help: "The URL notifications are POSTed to (http or https).")
        var url: String

        @OptionGroup var options: TopologyOption

        func run() async throws {
            let topology = try options.load()
            guard let parsed = URLComponents(string: url), ["http", "https"].contains(parsed.scheme ?? ""), parsed.host?.isEmpty == false,
                  url.utf8.count <= 2048 else {
                throw CLIError.usage("URL: '\(url)' is not an http:// or https:// URL with a host")
            }
            let vault = try options.cardVault(of: topology)
            try await PartnerCommand.withRegistry(topology, keySecret: topology.security.apiKeySecret ?? "", command: "partner webhook") { registry in
                let secret = try await registry.setWebhook(partner: name, url: url, vault: vault)
                print("""
                    Partner '\(name)': notifications go to \(url)
                    Signing secret (shown only now; Troupe keeps it sealed with the card key):
                      \(secret)
                    """)
            }
        }
    }

    struct Email: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "email",
            abstract: "Email the partner's notifications to an address (when topology.json configures notification.smtp)."
        )

        @Argument(help: "The partner's name.")
        var name: String

        @Argument(help: "The address, or 'none' to stop emailing the partner.")
        var address: String

        @OptionGroup var options: TopologyOption

        func run() async throws {
            let topology = try options.load()
            let email: String? = address == "none" ? nil : address
            if let email, !EmailMessage.isAddress(email) { throw CLIError.usage("ADDRESS: '\(email)' is not an email address") }
            try await PartnerCommand.withRegistry(topology, keySecret: topology.security.apiKeySecret ?? "", command: "partner email") { registry in
                try await registry.setEmail(partner: name, email: email)
                print(email.map { "Partner '\(name)': notifications are emailed to \($0)" } ?? "Partner '\(name)': no email")
            }
        }
    }

    struct Price: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "price",
            abstract: "Set what the partner pays for one product, in percent of its face value ('default': its default price)."
        )

        @Argument(help: "The partner's name.")
        var name: String

        @Argument(help: "The product's SKU (as in GET /api/brand/getCatalog).")
        var sku: String

        @Argument(help: ArgumentHelp("Percent of the face value (e.g. 95 or 97.5), or 'default'.", valueName: "PERCENT"))
        var percent: String

        @OptionGroup var options: TopologyOption

        func run() async throws {
            let topology = try options.load()
            let value = try Self.parse(percent)
            try await PartnerCommand.withRegistry(topology, keySecret: topology.security.apiKeySecret ?? "", command: "partner price") { registry in
                try await registry.setPrice(partner: name, sku: sku, percent: value)
                print(value.map { "Partner '\(name)' pays \($0)% of face value for \(sku)" } ?? "Partner '\(name)' pays its default price for \(sku)")
            }
        }

        /// `default` → nil; else a number above 0 and at most 200 with at most three decimals (what
        /// `partner_pricing.price_percent` holds), written plainly: no sign, exponent or trailing text.
        static func parse(_ text: String) throws -> Decimal? {
            if text == "default" { return nil }
            let parts = text.split(separator: ".", omittingEmptySubsequences: false)
            let plain = parts.count <= 2 && !parts[0].isEmpty && parts.allSatisfy { $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }
                && (parts.count == 1 || (1...3).contains(parts[1].count))
            guard plain, let value = Decimal(string: text, locale: Locale(identifier: "en_US_POSIX")), value > 0, value <= 200 else {
                throw CLIError.usage("PERCENT: '\(text)' must be a number above 0 and at most 200 (up to 3 decimals), or 'default'")
            }
            return value
        }
    }

    struct TopUp: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "topup",
            abstract: "Credit a partner's wallet by hand (a ledger entry with who made it and why).",
            discussion: "Partners top up through the payment provider (POST /v1/payments/create-intent); this is for operators."
        )

        @Argument(help: "The partner's name.")
        var name: String

        @Argument(help: "The amount, e.g. 250 or 99.50.")
        var amount: String

        @Option(help: "Why (kept with the entry).")
        var reason: String

        @Option(help: "Who (kept with the entry); by default the operating system's user.")
        var by = ProcessInfo.processInfo.environment["USER"].map { "operator \($0)" } ?? "operator"

        @OptionGroup var options: TopologyOption

        func run() async throws {
            let topology = try options.load()
            guard let value = Money.parse(amount), value > 0, value <= 1_000_000 else {
                throw CLIError.usage("AMOUNT: '\(amount)' must be a number above 0 and at most 1000000, with at most 2 decimals")
            }
            let why = reason.trimmingCharacters(in: .whitespaces), who = by.trimmingCharacters(in: .whitespaces)
            guard !why.isEmpty, why.count <= 500 else { throw CLIError.usage("--reason: must be 1 to 500 characters") }
            guard !who.isEmpty, who.count <= 200 else { throw CLIError.usage("--by: must be 1 to 200 characters") }
            try await PartnerCommand.withRegistry(topology, keySecret: topology.security.apiKeySecret ?? "", command: "partner topup") { registry in
                let balance = try await registry.topUp(partner: name, amount: value, by: who, reason: why)
                print("Partner '\(name)': topped up \(Money.format(value)); balance \(Money.format(balance)).")
            }
        }
    }

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
            let created = try await CLIError.onDatabase(topology, command: "partner add") { pool in
                do {
                    return try await PartnerRegistry(pool: pool, keySecret: secret).add(name: trimmed, wallet: amount, pricePercent: percent)
                } catch let error as PostgresError where error.sqlState == "23505" {
                    throw CLIError(message: "a partner named '\(trimmed)' already exists", exitCode: 1)
                }
            }
            print("""
                Partner '\(created.name)' created (id \(created.id.lowercasedString)).
                API key (shown only now; Troupe keeps just its hash):
                  \(created.key.text)
                Wallet: \(Money.format(created.wallet)); price: \(created.pricePercent)% of face value.
                """)
        }
    }
}
