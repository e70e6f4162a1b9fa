import ArgumentParser

/// `troupe node NAME`: one node of the topology.
struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "Run one node of the topology: migrations, bridges, its components, its HTTP edge."
    )

    @Argument(help: "The node's name in the topology.")
    var name: String

    @OptionGroup var options: TopologyOption

    func run() async throws {
        let topology = try options.load()
        guard topology.nodes.contains(where: { $0.name == name }) else {
            let known = topology.nodes.map(\.name).joined(separator: ", ")
            throw CLIError.usage("no node named '\(name)' in \(options.topology) (nodes: \(known))")
        }
        throw CLIError.notYetAvailable("troupe node", "nodes run with the node runtime (issue 5)")
    }
}
