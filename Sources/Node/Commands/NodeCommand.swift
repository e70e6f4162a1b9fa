import ActorRuntime
import ArgumentParser
import Bridges
import Glibc
import NIOCore

/// `troupe node NAME`: one node of the topology.
struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "Run one node of the topology: migrations, bridges, its components, its HTTP edge.",
        discussion: "Runs until SIGTERM or SIGINT, then stops consuming, flushes the outbox and exits 0 within 10 s."
    )

    @Argument(help: "The node's name in the topology.")
    var name: String

    @OptionGroup var options: TopologyOption

    func run() async throws {
        OrphanWatch.start()
        let topology = try options.load()
        guard let node = topology.nodes.first(where: { $0.name == name }) else {
            let known = topology.nodes.map(\.name).joined(separator: ", ")
            throw CLIError.usage("no node named '\(name)' in \(options.topology) (nodes: \(known))")
        }
        do {
            let secret = node.http == nil ? nil : try options.apiKeySecret(of: topology)
            let vault = try options.cardVault(of: topology, for: node)
            try await NodeRuntime(topology: topology, node: node, apiKeySecret: secret, vault: vault).run()
        } catch let error as PostgresError where error.isConnectionFailure {
            throw CLIError(message: "node \(name): cannot reach PostgreSQL at \(Redact.url(topology.database.url)): \(error.message)", exitCode: 69)
        } catch let error as AMQPError where error.kind == .refused {
            throw CLIError(message: "node \(name): broker \(Redact.url(topology.broker.url)) refused the topology (\(error.code.map(String.init) ?? "?")): "
                               + "\(error.message) (topology.json's broker settings, e.g. queueType, differ from queues the broker already has: "
                               + "drain and delete those queues, or restore the setting)", exitCode: 78)
        } catch let error as AMQPError {
            throw CLIError(message: "node \(name): broker \(Redact.url(topology.broker.url)): \(error.message)", exitCode: 69)
        } catch let error as IOError where error.errnoCode == EADDRINUSE {
            let address = node.http.map { "\($0.host):\($0.port)" } ?? "its HTTP address"
            throw CLIError(message: "node \(name): cannot listen on \(address): the address is in use (another Troupe running?)", exitCode: 69)
        }
    }
}
