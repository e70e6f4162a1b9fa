import ActorRuntime
import ArgumentParser
import Foundation
import Hummingbird

/// `troupe-vendor-sim`: a stand-in for the Bamboo gift-card vendor, speaking the endpoints Troupe uses
/// (checkout, order status, catalog, categories) with Basic auth, and configurable latency, failure rate,
/// processing time and catalog rate limit (429 "wait for X seconds"). `POST /sim/config` changes the
/// knobs while it runs (for tests), `POST /sim/catalog` the catalog (add, change, remove products; refuse or
/// fail the next listing call); `GET /sim/orders` lists what was placed, `GET /sim/stats` counts checkouts and
/// served catalog and categories calls.
@main
struct VendorSimulator: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "troupe-vendor-sim", abstract: "A simulated Bamboo vendor for demos and tests.")

    @Option(help: "Listen address.") var host = "127.0.0.1"
    @Option(help: "Listen port.") var port = 8090
    @Option(help: "Basic auth user (Bamboo's client id).") var clientId = "troupe"
    @Option(help: "Basic auth password (Bamboo's client secret); VENDOR_SIM_CLIENT_SECRET overrides it.")
    var clientSecret = ProcessInfo.processInfo.environment["VENDOR_SIM_CLIENT_SECRET"] ?? "troupe-vendor-secret"
    @Option(help: "Added to every vendor answer, in milliseconds.") var latencyMs = 0
    @Option(help: "Fraction of checkouts that fail with a 500 (0 to 1).") var failureRate = 0.0
    @Option(help: "Milliseconds an order stays Processing before it Succeeded.") var processingMs = 0
    @Option(help: "Catalog calls, and categories calls, allowed per window (each); more are answered 429.") var catalogLimit = 2
    @Option(help: "The catalog rate limit's window, in seconds.") var catalogWindowSeconds = 3600

    func validate() throws {
        guard (0...1).contains(failureRate) else { throw ValidationError("--failure-rate: must be from 0 to 1") }
        guard latencyMs >= 0, processingMs >= 0 else { throw ValidationError("--latency-ms and --processing-ms: must not be negative") }
        guard (1...65_535).contains(port) else { throw ValidationError("--port: must be between 1 and 65535") }
    }

    func run() async throws {
        var settings = SimulatorState.Settings()
        settings.latency = .milliseconds(latencyMs)
        settings.failureRate = failureRate
        settings.processing = .milliseconds(processingMs)
        settings.catalogLimit = catalogLimit
        settings.catalogWindow = .seconds(catalogWindowSeconds)
        let state = SimulatorState(settings: settings)
        let router = Router()
        VendorRoutes(state: state, authorization: "Basic " + Data("\(clientId):\(clientSecret)".utf8).base64EncodedString()).add(to: router)
        let app = Application(router: router, configuration: .init(address: .hostname(host, port: port), serverName: "vendor-sim"))
        OrphanWatch.start()                                     // started by `troupe up`: stop when it is gone
        try await app.runService()
    }
}
