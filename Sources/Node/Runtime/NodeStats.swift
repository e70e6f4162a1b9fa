import ActorRuntime
import Bridges
import Foundation
import Synchronization

/// This node's runtime figures per actor of its component trees: each instance's mailbox depth (deliveries
/// received and not handled yet) and what its consumers handled, retried and dead-lettered (carried over
/// its restarts), and restarts per actor. ``report(node:pool:)`` writes them to `troupe_node_stats`,
/// which `/metrics` on any edge node reads, and whether each of `breakers` is open to `troupe_breakers`,
/// which the admin alerts read.
final class NodeStats: Sendable {
    private struct Entry {
        var component: String
        var consumer: EnvelopeConsumer?
        var carried = EnvelopeConsumer.Stats()
        var restarts = 0
    }

    private let entries = Mutex<[ActorPath: Entry]>([:])
    /// The node's circuit breakers whose state is reported (the vendor's, on a node hosting OrderQueue).
    let breakers: [CircuitBreaker]

    init(breakers: [CircuitBreaker] = []) { self.breakers = breakers }

    /// The component an actor path belongs to: `/user/<component>/...`.
    static func component(of path: ActorPath) -> String { path.segments.dropFirst().first ?? path.name }

    func attach(_ consumer: EnvelopeConsumer, at path: ActorPath) {
        entries.withLock { $0[path, default: Entry(component: Self.component(of: path))].consumer = consumer }
    }

    /// The instance's consumer is gone (stopped or restarting): what it counted is kept.
    func detach(at path: ActorPath) {
        entries.withLock { entries in
            guard var entry = entries[path], let consumer = entry.consumer else { return }
            entry.carried = Self.sum(entry.carried, consumer.stats)
            entry.consumer = nil
            entries[path] = entry
        }
    }

    func restarted(_ path: ActorPath) {
        entries.withLock { $0[path, default: Entry(component: Self.component(of: path))].restarts += 1 }
    }

    struct Row: Sendable {
        let path: String, component: String
        let mailboxDepth: Int, restarts: Int
        let stats: EnvelopeConsumer.Stats
    }

    func snapshot() -> [Row] {
        entries.withLock { entries in
            entries.map { path, entry in
                Row(path: path.description, component: entry.component, mailboxDepth: entry.consumer?.consumer.buffered ?? 0,
                    restarts: entry.restarts, stats: Self.sum(entry.carried, entry.consumer?.stats ?? .init()))
            }.sorted { $0.path < $1.path }
        }
    }

    /// Writes this node's rows (one statement), and its breakers' states.
    func report(node: String, pool: PostgresPool) async throws {
        if !breakers.isEmpty {
            let names = breakers.map(\.name), open = breakers.map(\.isOpen)
            try await pool.withConnection { db in
                try db.query("""
                    INSERT INTO troupe_breakers (node, name, open) SELECT $1, * FROM unnest($2::text[], $3::boolean[])
                    ON CONFLICT (node, name) DO UPDATE SET open = EXCLUDED.open, reported_at = now()
                    """, [node, PostgresArray(names), PostgresArray(open)])
            }
        }
        let rows = snapshot()
        guard !rows.isEmpty else { return }
        let parameters: [any PostgresEncodable] = [
            node, PostgresArray(rows, \.path), PostgresArray(rows, \.component), PostgresArray(rows, \.mailboxDepth),
            PostgresArray(rows, \.stats.handled), PostgresArray(rows, \.stats.duplicates), PostgresArray(rows, \.stats.retried),
            PostgresArray(rows, \.stats.deadLettered), PostgresArray(rows, \.restarts),
        ]
        try await pool.withConnection { db in
            try db.query("""
                INSERT INTO troupe_node_stats (node, actor_path, component, mailbox_depth, handled, duplicates, retried, dead_lettered, restarts)
                SELECT $1, * FROM unnest($2::text[], $3::text[], $4::int[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[])
                ON CONFLICT (node, actor_path) DO UPDATE SET
                    component = EXCLUDED.component, mailbox_depth = EXCLUDED.mailbox_depth, handled = EXCLUDED.handled,
                    duplicates = EXCLUDED.duplicates, retried = EXCLUDED.retried, dead_lettered = EXCLUDED.dead_lettered,
                    restarts = EXCLUDED.restarts, reported_at = now()
                """, parameters)
        }
    }

    /// Deletes this node's rows (it stopped); a node that crashed leaves its rows, which `/metrics` ignores
    /// once they are 30 s old.
    func withdraw(node: String, pool: PostgresPool) async throws {
        try await pool.withConnection { db in
            try db.query("DELETE FROM troupe_node_stats WHERE node = $1", [node])
            try db.query("DELETE FROM troupe_breakers WHERE node = $1", [node])
        }
    }

    private static func sum(_ a: EnvelopeConsumer.Stats, _ b: EnvelopeConsumer.Stats) -> EnvelopeConsumer.Stats {
        var s = a
        s.handled += b.handled
        s.duplicates += b.duplicates
        s.retried += b.retried
        s.deadLettered += b.deadLettered
        s.pauses += b.pauses
        s.resumes += b.resumes
        return s
    }
}
