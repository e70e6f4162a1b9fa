import ArgumentParser

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
}
