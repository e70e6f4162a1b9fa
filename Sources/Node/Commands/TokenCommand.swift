import ActorRuntime
import ArgumentParser
import Bridges
import Foundation

/// `troupe token --supreme`: mints a JWT for the code pools' API with the topology's key (`inventory.codes.jwt`),
/// for development and tests. With an RS256 public key configured, the matching private key must be given.
struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Print a JWT for the code pools' API (/v1/{campaignId}/...).",
        discussion: "The token is signed with inventory.codes.jwt's hs256Secret (or the RSA private key of --private-key) and printed on stdout."
    )
    @OptionGroup var options: TopologyOption

    @Flag(name: .long, help: "Give the token the claim isSupreme: true (the code pools need it).")
    var supreme = false

    @Option(name: .long, help: ArgumentHelp("The token's subject (sub): the code pools' rate limit is per subject.", valueName: "NAME"))
    var subject = "troupe-cli"

    @Option(name: .long, help: ArgumentHelp("How long the token is valid, like 15m, 24h, 7d.", valueName: "DURATION"))
    var expiresIn = "24h"

    @Option(name: .long, help: ArgumentHelp("An RSA private key (PEM) to sign with, when the topology has an RS256 public key.", valueName: "PATH"))
    var privateKey: String?

    func run() async throws {
        let topology = try options.load()
        guard let lifetime = DurationText.parse(expiresIn), lifetime > .zero, lifetime <= .seconds(366 * 86_400) else {
            throw CLIError.usage("--expires-in: '\(expiresIn)' is not a duration from 1s to 366d, like 15m, 24h, 7d")
        }
        guard !subject.isEmpty, subject.utf8.count <= 255 else { throw CLIError.usage("--subject: must be 1 to 255 bytes") }
        let token: String
        switch topology.inventory.codes.key {
        case nil:
            throw CLIError.usage("\(options.topology): inventory.codes.jwt is not set: the code pools are off and take no token")
        case .hs256(let secret):
            guard privateKey == nil else { throw CLIError.usage("--private-key: the topology's key is an HS256 secret; the token is signed with it") }
            token = try await SupremeToken.mint(subject: subject, supreme: supreme, lifetime: lifetime, hs256Secret: secret)
        case .rs256:
            guard let privateKey else { throw CLIError.usage("--private-key: is needed: the topology has an RS256 public key, which cannot sign") }
            guard let pem = try? String(contentsOfFile: privateKey, encoding: .utf8) else { throw CLIError.usage("--private-key: '\(privateKey)' cannot be read") }
            do { token = try await SupremeToken.mint(subject: subject, supreme: supreme, lifetime: lifetime, rsaPrivateKeyPEM: pem) } catch {
                throw CLIError.usage("--private-key: '\(privateKey)' is not an RSA private key in PEM")
            }
        }
        print(token)
    }
}
