import Bridges
import Domain
import Foundation

/// The runtime series `/metrics` adds to the edge's own: read at scrape time from what every node shares
/// (the database and the broker), so one endpoint shows the whole system, plus this node's publisher.
struct ClusterMetrics: Sendable {
    let pool: PostgresPool
    let amqpURL: String
    let publisher: AMQPPublisher

    func render() async -> String {
        var out = ""
        func gauge(_ name: String, _ help: String, _ samples: [(labels: String, value: Double)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) gauge\n"
            for s in samples { out += s.labels.isEmpty ? "\(name) \(s.value)\n" : "\(name){\(s.labels)} \(s.value)\n" }
        }
        if let db = try? await pool.withConnection({ db in
            let outbox = try db.query("""
                SELECT count(*) AS n, COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)::float8 AS lag
                FROM troupe_outbox WHERE published_at IS NULL
                """).rows[0]
            let handled = try db.query("SELECT component, count(*) AS n FROM troupe_inbox GROUP BY component ORDER BY component").rows
            let orders = try db.query("SELECT status, count(*) AS n FROM orders GROUP BY status ORDER BY status").rows
            return (pending: try outbox.decode("n", as: Int.self), lag: try outbox.decode("lag", as: Double.self),
                    handled: try handled.map { (try $0.decode("component", as: String.self), try $0.decode("n", as: Int.self)) },
                    orders: try orders.map { (try $0.decode("status", as: String.self), try $0.decode("n", as: Int.self)) })
        }) {
            gauge("troupe_outbox_pending", "Envelopes committed and not yet published.", [("", Double(db.pending))])
            gauge("troupe_outbox_lag_seconds", "Age of the oldest unpublished envelope.", [("", db.lag)])
            gauge("troupe_messages_handled", "Envelopes handled per component (inbox rows, within the inbox retention).",
                  db.handled.map { ("component=\"\($0.0)\"", Double($0.1)) })
            gauge("troupe_orders", "Orders by status.", db.orders.map { ("status=\"\($0.0)\"", Double($0.1)) })
        }
        let url = amqpURL
        if let depths = try? await DedicatedThread.run("troupe.metrics", { () -> [(String, Int, Int)] in
            // A queue not declared yet (its component never ran) closes the channel (404): a new connection
            // for the next one, since a call on a closed channel would wait for an answer that never comes.
            let address = try AMQPURL(url)
            var c = try AMQPConnection(url: address)
            func count(_ queue: String) -> Int {
                if !c.isOpen, let fresh = try? AMQPConnection(url: address) { c = fresh }
                return (try? c.messageCount(queue)) ?? 0
            }
            return Component.allCases.map { comp in (comp.rawValue, count(comp.queueName), count(comp.deadQueueName)) }
        }) {
            gauge("troupe_queue_messages", "Messages waiting in each component's queue.", depths.map { ("component=\"\($0.0)\"", Double($0.1)) })
            gauge("troupe_messages_dead_lettered", "Messages in each component's dead queue.", depths.map { ("component=\"\($0.0)\"", Double($0.2)) })
        }
        out += "# HELP troupe_publish_confirms_total Publishes the broker confirmed to this node.\n# TYPE troupe_publish_confirms_total counter\n"
        out += "troupe_publish_confirms_total \(publisher.confirmed)\n"
        out += "# HELP troupe_broker_reconnects_total Times this node's publisher reconnected.\n# TYPE troupe_broker_reconnects_total counter\n"
        out += "troupe_broker_reconnects_total \(publisher.reconnects)\n"
        return out
    }
}
