import ArgumentParser
import Bridges
import Domain
import Foundation

/// `troupe jobs`: the recurring jobs of the topology, with their last and next runs; `troupe jobs run NAME`
/// asks for a run now (still once per cluster: the next tick of a node hosting it takes it).
struct JobsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobs",
        abstract: "List the recurring jobs (last run: node, start, duration, outcome; next run), or run one now.",
        subcommands: [List.self, Run.self],
        defaultSubcommand: List.self
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List every job with its last and next run.")
        @OptionGroup var options: TopologyOption

        func run() async throws {
            let topology = try options.load()
            let jobs = NodeJobs.all(topology).map { (name: $0.name, period: $0.period) }
            let entries = try await CLIError.onDatabase(topology, command: "jobs") { pool in
                try await pool.withConnection { db in try ScheduleBook.entries(jobs, on: db) }
            }
            print(JobsTable.render(entries, now: Date()))
        }
    }

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "run", abstract: "Run a job now, once across the cluster.")
        @Argument(help: "The job's name (see troupe jobs).") var name: String
        @OptionGroup var options: TopologyOption
        @Option(help: "Seconds to wait for the run to finish (0: do not wait).") var wait = 60

        func run() async throws {
            let topology = try options.load()
            let jobs = NodeJobs.all(topology)
            guard let job = jobs.first(where: { $0.name == name }) else {
                throw CLIError.usage("NAME: unknown job '\(name)' (one of: \(jobs.map(\.name).joined(separator: ", ")))")
            }
            guard wait >= 0, wait <= 86_400 else { throw CLIError.usage("--wait: must be from 0 to 86400 seconds") }
            let outcome = try await CLIError.onDatabase(topology, command: "jobs run") { pool -> ScheduleBook.Entry? in
                let asked = try await pool.withConnection { db in try ScheduleBook.request(job.name, on: db) }
                print("Asked for a run of \(job.name); a node hosting it takes it within 5 s.")
                let deadline = ContinuousClock.now + .seconds(wait)
                while ContinuousClock.now < deadline {
                    let entry = try await pool.withConnection { db in try ScheduleBook.entries([(job.name, job.period)], on: db)[0] }
                    if entry.requestedAt == nil, entry.runningSince == nil, let last = entry.lastRunAt, last >= asked.addingTimeInterval(-1) { return entry }
                    try await Task.sleep(for: .milliseconds(250))
                }
                return nil
            }
            guard wait > 0 else { return }
            guard let outcome else {
                throw CLIError(message: "\(job.name) did not run within \(wait) s: is a node hosting it running? (troupe jobs shows its state)", exitCode: 1)
            }
            print("\(job.name) ran on \(outcome.node ?? "?") in \(outcome.durationMs ?? 0) ms: \(outcome.outcome ?? "")")
            if outcome.failures > 0 { throw ExitCode.failure }
        }
    }
}
