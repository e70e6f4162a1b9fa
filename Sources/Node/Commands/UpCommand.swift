import ArgumentParser
import Foundation

/// `troupe up`: every node of the topology as a supervised child process.
struct UpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up",
        abstract: "Run every node of the topology as supervised child processes.",
        discussion: """
        Each node runs as `troupe node NAME`. A node that exits abnormally is restarted with backoff; more than
        5 restarts of one node within 60 s stop everything (exit 1). SIGINT/SIGTERM stop every node gracefully.
        """
    )

    @OptionGroup var options: TopologyOption

    @Flag(help: "Only read and validate the topology, print it, and exit.")
    var check = false

    func run() async throws {
        let topology = try options.load()
        print(topology.summary(path: options.topology))
        fflush(nil)                                     // before the nodes write to the same stdout
        if check { return }
        let path = URL(fileURLWithPath: options.topology).standardizedFileURL.path
        let code = await NodeSupervisor(topologyPath: path, nodes: topology.nodes.map(\.name)).run()
        if code != 0 { throw ExitCode(code) }
    }
}
