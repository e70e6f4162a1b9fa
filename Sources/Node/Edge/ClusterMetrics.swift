import Bridges
import Domain
import Foundation

/// The runtime series `/metrics` adds to the edge's own: read at scrape time from what every node shares
/// (the database and the broker), so one endpoint shows the whole system, plus this node's publisher.
struct ClusterMetrics: Sendable {
    let pool: PostgresPool
    let amqpURL: String
    let publisher: AMQPPublisher
    /// Inbox rows and orders, counted at most once a minute.
    let counts = TableCounts()

    func render() async -> String {
        var out = ""
        func gauge(_ name: String, _ help: String, _ samples: [(labels: String, value: Double)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) gauge\n"
            for s in samples { out += s.labels.isEmpty ? "\(name) \(s.value)\n" : "\(name){\(s.labels)} \(s.value)\n" }
        }
        if let db = try? await pool.withConnection({ db in
            let outbox = try db.query("""
                SELECT count(*) AS n, COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)::float8 AS lag
                FROM troupe_outbox
                """).rows[0]
            let tables = try counts.current(db)
            // what the nodes reported lately (a node that stopped reporting drops out after 30 s)
            let actors = try db.query("""
                SELECT node, actor_path, component, mailbox_depth, handled, retried, dead_lettered, restarts FROM troupe_node_stats
                WHERE reported_at > now() - interval '30 seconds' ORDER BY node, actor_path
                """).rows
            return (pending: try outbox.decode("n", as: Int.self), lag: try outbox.decode("lag", as: Double.self),
                    handled: tables.handled, orders: tables.orders,
                    actors: try actors.map(ActorFigures.init(row:)))
        }) {
            gauge("troupe_outbox_pending", "Envelopes committed and not yet published.", [("", Double(db.pending))])
            gauge("troupe_outbox_lag_seconds", "Age of the oldest unpublished envelope.", [("", db.lag)])
            gauge("troupe_messages_handled", "Envelopes handled per component (inbox rows, within the inbox retention; counted at most once a minute).",
                  db.handled.map { ("component=\"\($0.0)\"", Double($0.1)) })
            gauge("troupe_orders", "Orders by status (counted at most once a minute).", db.orders.map { ("status=\"\($0.0)\"", Double($0.1)) })
            let instances = db.actors.filter { $0.path.split(separator: "/").count == 3 }      // /user/<component>/<n>
            gauge("troupe_mailbox_depth", "Deliveries an instance has received and not handled yet.", instances.map { ($0.labels, Double($0.mailboxDepth)) })
            func counter(_ name: String, _ help: String, _ value: (ActorFigures) -> Int, of actors: [ActorFigures]) {
                out += "# HELP \(name) \(help)\n# TYPE \(name) counter\n"
                for a in actors { out += "\(name){\(a.labels)} \(value(a))\n" }
            }
            counter("troupe_instance_messages_handled_total", "Envelopes an instance handled (since its node started).", \.handled, of: instances)
            counter("troupe_instance_messages_retried_total", "Deliveries an instance sent to a retry queue after a failure.", \.retried, of: instances)
            counter("troupe_instance_messages_dead_lettered_total", "Deliveries an instance dead-lettered.", \.deadLettered, of: instances)
            counter("troupe_actor_restarts_total", "Restarts of a component's supervisor or instance actor (since its node started).",
                    \.restarts, of: db.actors)
        }
        // A queue not read is left out, not shown empty.
        if let depths = await QueueDepths.read(amqpURL: amqpURL) {
            gauge("troupe_queue_messages", "Messages waiting in each component's queue.", depths.compactMap { d in d.ready.map { ("component=\"\(d.component)\"", Double($0)) } })
            gauge("troupe_messages_dead_lettered", "Messages in each component's dead queue.", depths.compactMap { d in d.dead.map { ("component=\"\(d.component)\"", Double($0)) } })
        }
        out += "# HELP troupe_publish_confirms_total Publishes the broker confirmed to this node.\n# TYPE troupe_publish_confirms_total counter\n"
        out += "troupe_publish_confirms_total \(publisher.confirmed)\n"
        out += "# HELP troupe_broker_reconnects_total Times this node's publisher reconnected.\n# TYPE troupe_broker_reconnects_total counter\n"
        out += "troupe_broker_reconnects_total \(publisher.reconnects)\n"
        out += "# HELP troupe_broker_blocked Whether the broker blocks this node's publishing (a memory or disk alarm).\n# TYPE troupe_broker_blocked gauge\n"
        out += "troupe_broker_blocked \(publisher.blocked == nil ? 0 : 1)\n"
        return out
    }
}

/// One actor's row of `troupe_node_stats`.
private struct ActorFigures: Sendable {
    let node: String, path: String, component: String
    let mailboxDepth: Int, handled: Int, retried: Int, deadLettered: Int, restarts: Int

    init(row: PostgresRow) throws {
        node = try row.decode("node")
        path = try row.decode("actor_path")
        component = try row.decode("component")
        mailboxDepth = try row.decode("mailbox_depth")
        handled = try row.decode("handled")
        retried = try row.decode("retried")
        deadLettered = try row.decode("dead_lettered")
        restarts = try row.decode("restarts")
    }

    var labels: String { "node=\"\(node)\",component=\"\(component)\",actor=\"\(path)\"" }
}
