import ArgumentParser
import Domain

/// `--topology PATH`, shared by every command that reads the topology.
struct TopologyOption: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The topology file.", valueName: "PATH"))
    var topology: String = "./topology.json"

    /// The topology with environment overrides applied; bad files become one-line usage errors.
    func load() throws -> Topology {
        do {
            return try TopologyLoader.load(path: topology)
        } catch {
            throw CLIError.usage("\(error)")
        }
    }

    /// The API key secret of `topology`, or a usage error naming where to set it.
    func apiKeySecret(of topology: Topology) throws -> String {
        do {
            return try topology.security.requireAPIKeySecret(file: self.topology)
        } catch {
            throw CLIError.usage("\(error)")
        }
    }

    /// The card vault of a node that stores or shows cards (OrderQueue, the HTTP edge) or signs webhooks
    /// (Notification); the development vault for the others, which never open a sealed value.
    func cardVault(of topology: Topology, for node: Topology.Node) throws -> CardVault {
        guard node.http != nil || node.components.contains(where: { [.orderQueue, .notification].contains($0.component) }) else { return .development }
        return try cardVault(of: topology)
    }

    /// The card vault of `topology`, or a usage error when it needs a key it does not have.
    func cardVault(of topology: Topology) throws -> CardVault {
        do {
            return try topology.security.requireCardVault(databaseURL: topology.database.url, file: self.topology)
        } catch {
            throw CLIError.usage("\(error)")
        }
    }
}
