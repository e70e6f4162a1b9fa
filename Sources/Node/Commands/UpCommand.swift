import ArgumentParser
import Bridges
import Foundation

/// `troupe up`: every node of the topology as a supervised child process.
struct UpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up",
        abstract: "Run every node of the topology as supervised child processes.",
        discussion: """
        Each node runs as `troupe node NAME` (and, when the topology's vendor has a `simulator`, `troupe-vendor-sim`
        too; when its paymentProvider has one, `troupe-payment-sim`, its webhooks going to the first edge node). A child that exits abnormally is restarted with backoff.
        A node restarted more than 5 times within 60 s (topology.json's nodeRestarts) is held: retried after 1 min, doubling up to
        15 min, while the other nodes run on; a status table is printed each time. With "onNodeFailure": "stopAll" it stops
        every node instead (exit 1). SIGINT/SIGTERM stop every node gracefully.
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
        var children = NodeSupervisor.nodes(topology.nodes.map(\.name), topologyPath: path)
        if let vendor = topology.vendor, let sim = vendor.simulator, let url = URLComponents(string: vendor.url) {
            children.insert(NodeSupervisor.Child(
                name: "vendor-sim", executable: ChildProcess.sibling("troupe-vendor-sim"),
                arguments: ["--host", url.host ?? "127.0.0.1", "--port", "\(url.port ?? 80)", "--client-id", vendor.clientId,
                            "--latency-ms", "\(Int(sim.latency.inSeconds * 1000))", "--processing-ms", "\(Int(sim.processing.inSeconds * 1000))",
                            "--failure-rate", "\(sim.failureRate)", "--catalog-limit", "\(sim.catalogLimit)"],
                environment: ["VENDOR_SIM_CLIENT_SECRET": vendor.clientSecret]), at: 0)
        }
        if let provider = topology.paymentProvider, let sim = provider.simulator, let url = URLComponents(string: provider.url) {
            // Its webhooks go to the first edge node.
            let edge = topology.nodes.first { $0.http != nil }?.http
            var arguments = ["--host", url.host ?? "127.0.0.1", "--port", "\(url.port ?? 80)",
                             "--auto-confirm-ms", "\(sim.autoConfirm.map { Int($0.inSeconds * 1000) } ?? 0)",
                             "--auto-outcome", sim.autoSucceeds ? "succeeded" : "failed"]
            if let edge { arguments += ["--webhook-url", "http://\(edge.host):\(edge.port)/v1/webhooks/payments"] }
            children.insert(NodeSupervisor.Child(
                name: "payment-sim", executable: ChildProcess.sibling("troupe-payment-sim"), arguments: arguments,
                environment: ["PAYMENT_SIM_SECRET_KEY": provider.secretKey, "PAYMENT_SIM_WEBHOOK_SECRET": provider.webhookSecret]), at: 0)
        }
        let code = await NodeSupervisor(children: children, limits: .init(topology.nodeFailure)).run()
        if code != 0 { throw ExitCode(code) }
    }
}
