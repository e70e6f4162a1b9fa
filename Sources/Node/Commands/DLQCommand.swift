import ArgumentParser
import Domain

/// `troupe dlq list|replay|purge COMPONENT`: dead letters of a component.
struct DLQCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq",
        abstract: "Inspect, replay or purge a component's dead-letter queue (troupe.<component>.dead).",
        subcommands: [List.self, Replay.self, Purge.self]
    )

    struct ComponentArgument: ParsableArguments {
        @Argument(help: ArgumentHelp("The component: \(Component.allCases.map(\.rawValue).joined(separator: ", ")).",
                                     valueName: "component"))
        var component: String

        func validate() throws {
            guard Component(rawValue: component) != nil else {
                throw ValidationError("unknown component '\(component)' (one of: \(Component.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List dead letters: id, topic, x-error, x-attempts, age.")
        @OptionGroup var component: ComponentArgument
        @OptionGroup var options: TopologyOption
        func run() async throws {
            _ = try options.load()
            throw CLIError.notYetAvailable("troupe dlq list", "dead-letter queues land with the AMQP bridge (issue 4)")
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Send dead letters back to the component's queue, attempts reset.")
        @OptionGroup var component: ComponentArgument
        @Option(help: "Replay only the message with this envelope id.") var id: String?
        @Flag(help: "Replay every dead letter.") var all = false
        @OptionGroup var options: TopologyOption
        func validate() throws {
            guard (id != nil) != all else { throw ValidationError("give exactly one of --id ID or --all") }
        }
        func run() async throws {
            _ = try options.load()
            throw CLIError.notYetAvailable("troupe dlq replay", "dead-letter queues land with the AMQP bridge (issue 4)")
        }
    }

    struct Purge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete dead letters, optionally only older ones.")
        @OptionGroup var component: ComponentArgument
        @Option(name: .customLong("older-than"), help: ArgumentHelp("Only those older than this (e.g. 7d, 12h).", valueName: "DURATION"))
        var olderThan: String?
        @OptionGroup var options: TopologyOption
        func run() async throws {
            _ = try options.load()
            throw CLIError.notYetAvailable("troupe dlq purge", "dead-letter queues land with the AMQP bridge (issue 4)")
        }
    }
}
