import ArgumentParser
import Bridges
import Foundation

/// The `troupe` executable: runs nodes and serves operators.
@main
struct Troupe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "troupe",
        abstract: "Troupe: supervised Swift actors connected through RabbitMQ, with state in PostgreSQL.",
        discussion: """
        Broker and database URLs come from the topology file; TROUPE_AMQP_URL and TROUPE_DATABASE_URL override them.
        Exit codes: 0 success, 1 failure, 2 bad command line or topology, 69 broker or database unreachable.
        """,
        version: "troupe 0.1.0 (librabbitmq \(CLibraries.rabbitMQ), libpq \(CLibraries.libpq))",
        subcommands: [NodeCommand.self, UpCommand.self, MigrateCommand.self, PartnerCommand.self,
                      PublishCommand.self, DLQCommand.self, CatalogCommand.self, JobsCommand.self, TokenCommand.self]
    )

    /// Parses the command line and runs the command. Every error is one line on stderr naming what was
    /// wrong, with exit code 2 for bad input, never a stack trace.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as CLIError {
            FileHandle.standardError.write(Data("troupe: \(error.message)\n".utf8))
            Foundation.exit(error.exitCode)
        } catch {
            let code = exitCode(for: error)
            if code == .success { exit(withError: error) }           // --help, --version
            if error is ExitCode { Foundation.exit(code.rawValue) }
            let message = fullMessage(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
            FileHandle.standardError.write(Data("troupe: \(message.replacingOccurrences(of: "Error: ", with: "")) (see troupe --help)\n".utf8))
            Foundation.exit(2)
        }
    }
}
