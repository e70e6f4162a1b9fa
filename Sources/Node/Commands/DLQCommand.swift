import ArgumentParser
import Bridges
import Domain
import Foundation

/// `troupe dlq list|replay|purge COMPONENT`: dead letters of a component.
struct DLQCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq",
        abstract: "Inspect, replay or purge a component's dead-letter queue (troupe.<component>.dead).",
        discussion: "COMPONENT 'outbox' means the outbox rows that could never be published (troupe_outbox_dead in PostgreSQL).",
        subcommands: [List.self, Replay.self, Purge.self]
    )

    struct ComponentArgument: ParsableArguments {
        /// Not a component: the outbox rows that could never be published.
        static let outbox = "outbox"
        static let choices = Component.allCases.map(\.rawValue) + [outbox]

        @Argument(help: ArgumentHelp("The component: \(choices.joined(separator: ", ")).", valueName: "component"))
        var component: String

        var isOutbox: Bool { component == Self.outbox }

        func validate() throws {
            guard Self.choices.contains(component) else {
                throw ValidationError("unknown component '\(component)' (one of: \(Self.choices.joined(separator: ", ")))")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List dead letters: id, topic, x-error, x-attempts, age.")
        @OptionGroup var component: ComponentArgument
        @OptionGroup var options: TopologyOption
        @Option(help: "Show at most this many.") var limit = 100
        func run() async throws {
            let topology = try options.load()
            if component.isOutbox {
                let rows = try await CLIError.onDatabase(topology, command: "dlq", migrate: false) { try await DeadOutbox.list(pool: $0, limit: limit) }
                guard !rows.isEmpty else { return print("troupe_outbox_dead is empty.") }
                print(["ID", "TOPIC", "AGE", "REASON"].joined(separator: "\t"))
                for r in rows { print([r.id, r.topic, DurationText.format(r.age), r.reason].joined(separator: "\t")) }
                return
            }
            let letters = try await CLIError.onBroker(topology) {
                try await DeadLetterQueue.list(url: topology.broker.url, component: component.component, limit: limit)
            }
            guard !letters.isEmpty else { return print("\(WireTopology.deadQueue(component.component)) is empty.") }
            print(["ID", "TOPIC", "ATTEMPTS", "AGE", "ERROR"].joined(separator: "\t"))
            for l in letters {
                print([l.id, l.topic, String(l.attempts), l.age.map(DurationText.format) ?? "-", l.error].joined(separator: "\t"))
            }
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
            let topology = try options.load()
            if component.isOutbox {
                let n = try await CLIError.onDatabase(topology, command: "dlq", migrate: false) { try await DeadOutbox.replay(pool: $0, id: id) }
                if let id, n == 0 { throw CLIError(message: "no row with id \(id) in troupe_outbox_dead", exitCode: 1) }
                return print("moved \(n) row(s) back to the outbox")
            }
            let result = try await CLIError.onBroker(topology) {
                try await DeadLetterQueue.replay(url: topology.broker.url, component: component.component, id: id)
            }
            for kept in result.kept { FileHandle.standardError.write(Data("troupe: kept \(kept.id): it can never be published (\(kept.reason))\n".utf8)) }
            if let id, result.replayed == 0, result.kept.isEmpty {
                throw CLIError(message: "no dead letter with id \(id) in \(WireTopology.deadQueue(component.component))", exitCode: 1)
            }
            print("replayed \(result.replayed) message(s) to \(WireTopology.queue(component.component))")
        }
    }

    struct Purge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete dead letters, optionally only older ones.")
        @OptionGroup var component: ComponentArgument
        @Option(name: .customLong("older-than"), help: ArgumentHelp("Only those older than this (e.g. 7d, 12h).", valueName: "DURATION"))
        var olderThan: String?
        @OptionGroup var options: TopologyOption
        func validate() throws {
            if let olderThan, DurationText.parse(olderThan) == nil {
                throw ValidationError("--older-than: '\(olderThan)' is not a duration like 30s, 15m, 12h, 7d")
            }
        }
        func run() async throws {
            let topology = try options.load()
            let age = olderThan.flatMap(DurationText.parse)
            if component.isOutbox {
                let n = try await CLIError.onDatabase(topology, command: "dlq", migrate: false) { try await DeadOutbox.purge(pool: $0, olderThan: age) }
                return print("purged \(n) row(s) from troupe_outbox_dead")
            }
            let n = try await CLIError.onBroker(topology) {
                try await DeadLetterQueue.purge(url: topology.broker.url, component: component.component, olderThan: age)
            }
            print("purged \(n) message(s) from \(WireTopology.deadQueue(component.component))")
        }
    }
}
