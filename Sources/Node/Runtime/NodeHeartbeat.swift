import Bridges
import Foundation

/// A node's heartbeat in `troupe_node_heartbeats`: beaten every few seconds while it runs (with the node's
/// figures), marked stopped when it stops gracefully. The edge's `/health` reads the heartbeats of the
/// topology's nodes, so it can say which one is down: crashed, held by `troupe up`, or never started.
struct NodeHeartbeat: Sendable {
    /// A node not seen for this long is down (five missed beats of ``ComponentTreeService/reportEvery``: a busy
    /// node waiting for a database connection is not taken for a dead one).
    static let downAfter: Duration = .seconds(10)

    let node: String
    let pid = getpid()
    let started = Date()

    func beat(pool: PostgresPool) async throws {
        let node = self.node, pid = Int(self.pid), started = self.started
        try await pool.withConnection { db in
            try db.query("""
                INSERT INTO troupe_node_heartbeats (node, pid, started_at) VALUES ($1, $2, $3)
                ON CONFLICT (node) DO UPDATE SET pid = EXCLUDED.pid, started_at = EXCLUDED.started_at, seen_at = now(), stopped_at = NULL
                """, [node, pid, started])
        }
    }

    /// The node stopped on purpose.
    func stopped(pool: PostgresPool) async throws {
        let node = self.node, pid = Int(self.pid)
        try await pool.withConnection { db in
            try db.query("UPDATE troupe_node_heartbeats SET stopped_at = now() WHERE node = $1 AND pid = $2", [node, pid])
        }
    }

    /// Each of `nodes` that is not running, with why: `down: last seen N s ago`, `stopped`, `not started`.
    static func down(_ nodes: [String], on db: PostgresConnection) throws -> [String: String] {
        let rows = try db.query("""
            SELECT n.node, h.stopped_at IS NOT NULL AS stopped, extract(epoch FROM now() - h.seen_at)::float8 AS age
            FROM unnest($1::text[]) AS n(node) LEFT JOIN troupe_node_heartbeats h USING (node)
            """, [PostgresArray(nodes)]).rows
        var down: [String: String] = [:]
        for row in rows {
            let node = try row.decode("node", as: String.self)
            guard let age = try row.decode("age", as: Double?.self) else { down[node] = "not started"; continue }
            if try row.decode("stopped", as: Bool.self) {
                down[node] = "stopped"
            } else if age > downAfter.inSeconds {
                down[node] = "down: last seen \(Int(age)) s ago"
            }
        }
        return down
    }
}
