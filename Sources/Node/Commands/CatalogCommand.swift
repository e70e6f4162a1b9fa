import ActorRuntime
import ArgumentParser
import Bridges
import Domain
import Foundation

/// `troupe catalog sync`: asks BrandSync for a catalog sync now, within the vendor's limits (the same
/// answer as `POST /api/brand/sync-catalog`).
struct CatalogCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "catalog",
        abstract: "The vendor's catalog.",
        subcommands: [Sync.self]
    )

    struct Sync: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sync the vendor's catalog now (once across the cluster, within the vendor's limits).",
            discussion: "Exit 0 when the sync was asked for or runs; exit 1 when the vendor's limits say wait (the time is printed)."
        )
        @OptionGroup var options: TopologyOption

        func run() async throws {
            let topology = try options.load()
            guard topology.vendor != nil else { throw CLIError.usage("the topology has no vendor: there is no catalog to sync") }
            let settings = topology.brandSync.sync
            let answer = try await CLIError.onDatabase(topology, command: "catalog sync") { pool in
                try await pool.transaction { db in try CatalogSync.trigger(settings, on: db) }
            }
            switch answer {
            case .accepted(_, let running?):
                print("A catalog sync has been running since \(Timestamp.format(running)); troupe jobs shows its outcome.")
            case .accepted:
                print("Catalog sync asked for: a node hosting brand-sync runs it within 5 s; troupe jobs shows its outcome.")
            case .limited(let until):
                throw CLIError(message: "the vendor's catalog limits allow the next sync at \(Timestamp.format(until)) "
                               + "(in \(max(1, Int(until.timeIntervalSinceNow.rounded(.up)))) s)", exitCode: 1)
            }
        }
    }
}
