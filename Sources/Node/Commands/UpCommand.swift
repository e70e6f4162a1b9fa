import ArgumentParser

/// `troupe up`: every node of the topology as a supervised child process.
struct UpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up",
        abstract: "Run every node of the topology as supervised child processes.",
        discussion: "Until nodes can run (issue 5), this reads and validates the topology, reports it, and exits 0."
    )

    @OptionGroup var options: TopologyOption

    func run() async throws {
        let topology = try options.load()
        print(topology.summary(path: options.topology))
        print("Nodes are not runnable yet (they land with the node runtime, issue 5); nothing was started.")
    }
}
