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

    /// The card vault of a node that stores or shows cards (OrderQueue, the HTTP edge); the development
    /// vault for the others, which never touch cards.
    func cardVault(of topology: Topology, for node: Topology.Node) throws -> CardVault {
        guard node.http != nil || node.components.contains(where: { $0.component == .orderQueue }) else { return .development }
        do {
            return try topology.security.requireCardVault(databaseURL: topology.database.url, file: self.topology)
        } catch {
            throw CLIError.usage("\(error)")
        }
    }
}
