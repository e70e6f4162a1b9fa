import ActorRuntime
import ArgumentParser
import Bridges
import Foundation
import Logging

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
        if let problem = Envelope.problem(topic: topic) { throw ValidationError("TOPIC \(problem)") }
        if let correlationId, let problem = Envelope.problem(correlationId: correlationId) {
            throw ValidationError("--correlation-id \(problem)")
        }
        guard let value = try? JSONValue(parsing: Array(json.utf8)), value.isObject else {
            throw ValidationError("JSON must be a JSON object, e.g. '{\"orderId\": \"o-1\"}'")
        }
    }

    func run() async throws {
        let topology = try options.load()
        let payload = try JSONValue(parsing: Array(json.utf8))
        let envelope = Envelope(topic: topic, producerId: "troupe-cli", correlationId: correlationId ?? UUID().lowercasedString, payload: payload)
        let wire = topology.broker.wire
        var quiet = Logger(label: "troupe.publish")
        quiet.logLevel = .error                                   // the command's own one-line error says it
        let publisher = try AMQPPublisher(url: topology.broker.url, name: "cli", logger: quiet) { [topology] in
            try ComponentWiring.declareEveryQueue(of: topology, on: $0)
        }
        try await withCleanup {
            try await CLIError.onBroker(topology) {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await publisher.publish(exchange: wire.exchange, routingKey: topic, OutboxRelay.message(envelope)) }
                    group.addTask {                               // the publisher retries forever: bound it here
                        try await Task.sleep(for: .seconds(10))
                        await publisher.close()                   // fails the pending publish, so both children end
                        throw AMQPError(.connection, "no confirm within 10 s (is the broker up?)")
                    }
                    try await group.next()
                    group.cancelAll()
                }
            }
        } cleanup: { await publisher.close() }
        print(envelope.id.lowercasedString)
    }
}
