import ActorRuntime
import ArgumentParser
import Foundation

/// `troupe publish TOPIC JSON`: one envelope onto the exchange.
struct PublishCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "publish",
        abstract: "Publish one envelope (topic, JSON payload) to the topology's exchange, with publisher confirms."
    )

    @Argument(help: "The topic, also the routing key (e.g. order.created).")
    var topic: String

    @Argument(help: "The payload: a JSON object.")
    var json: String

    @Option(help: "The envelope's correlationId (default: a new UUID).")
    var correlationId: String?

    @OptionGroup var options: TopologyOption

    func validate() throws {
        guard !topic.isEmpty, !topic.contains(" ") else { throw ValidationError("TOPIC must be a non-empty routing key without spaces") }
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(json.utf8)), value.isObject else {
            throw ValidationError("JSON must be a JSON object, e.g. '{\"orderId\": \"o-1\"}'")
        }
    }

    func run() async throws {
        _ = try options.load()
        throw CLIError.notYetAvailable("troupe publish", "publishing lands with the AMQP bridge (issue 4)")
    }
}
