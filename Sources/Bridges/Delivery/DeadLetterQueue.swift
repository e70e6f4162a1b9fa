import CRabbitMQ
import Foundation

/// One dead letter as operators see it.
public struct DeadLetterInfo: Sendable, Equatable {
    /// The envelope id (`message_id`).
    public var id: String
    /// The topic (`type`).
    public var topic: String
    /// Why it died (`x-error`).
    public var error: String
    /// Deliveries it got (`x-attempts`).
    public var attempts: Int
    /// Since it was dead-lettered (`x-dead-at`), when known.
    public var age: Duration?
}

/// `troupe.<component>.dead` for operators: list, replay (back to the component's queue with attempts
/// reset; the inbox still deduplicates), purge. Messages are read with `basic.get` and settled one by
/// one; what a command does not take stays in the queue, in order.
public enum DeadLetterQueue {
    /// Lists up to `limit` dead letters, leaving them in the queue.
    public static func list(url: String, component: String, limit: Int = 1000) async throws -> [DeadLetterInfo] {
        try await AMQPJob.run(url: url) { try list($0, component, limit) }
    }

    static func list(_ conn: AMQPConnection, _ component: String, _ limit: Int) throws -> [DeadLetterInfo] {
        try requireQueue(conn, component)
        var out: [DeadLetterInfo] = []
        while out.count < limit, let d = try conn.get(queue: WireTopology.deadQueue(component)) {
            out.append(info(d.message))
        }
        return out                        // nothing acked: closing the connection returns them all
    }

    /// Sends dead letters back to the component's queue (all, or the one with envelope `id`) and removes
    /// them from the dead queue once the broker confirmed the re-publish. Returns how many.
    @discardableResult
    public static func replay(url: String, component: String, id: String?) async throws -> Int {
        try await AMQPJob.run(url: url) { try replay($0, component, id) }
    }

    static func replay(_ conn: AMQPConnection, _ component: String, _ id: String?) throws -> Int {
        try requireQueue(conn, component)
        try conn.confirmSelect()
        var taken: [UInt64] = [], skipped: [UInt64] = []
        while let d = try conn.get(queue: WireTopology.deadQueue(component)) {
            guard id == nil || d.message.messageID == id else { skipped.append(d.tag); continue }
            var message = d.message
            for key in ["x-attempts", "x-error", "x-dead-at", "x-routing-key"] { message.headers.removeValue(forKey: key) }
            try conn.publish(exchange: "", routingKey: WireTopology.queue(component), message)
            taken.append(d.tag)
        }
        try awaitConfirms(conn, count: taken.count)
        for tag in taken { try conn.ack(tag) }
        for tag in skipped { try conn.reject(tag, requeue: true) }      // back in place now, not at close
        return taken.count
    }

    /// Deletes dead letters: all, or those dead-lettered longer than `olderThan` ago. Returns how many.
    @discardableResult
    public static func purge(url: String, component: String, olderThan: Duration?) async throws -> Int {
        try await AMQPJob.run(url: url) { try purge($0, component, olderThan) }
    }

    static func purge(_ conn: AMQPConnection, _ component: String, _ olderThan: Duration?) throws -> Int {
        try requireQueue(conn, component)
        guard let olderThan else { return try conn.purge(WireTopology.deadQueue(component)) }
        var purged = 0
        while let d = try conn.get(queue: WireTopology.deadQueue(component)) {
            if let age = info(d.message).age, age > olderThan {
                try conn.ack(d.tag)
                purged += 1
            }
        }
        return purged
    }

    static func info(_ m: AMQPMessage) -> DeadLetterInfo {
        // Anyone can publish to the dead queue: an `x-dead-at` far off (or negative) gives no age rather than a trap.
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let age = m.headers["x-dead-at"]?.intValue.flatMap { at -> Duration? in
            let (ms, overflow) = now.subtractingReportingOverflow(at)
            return overflow || ms < 0 ? nil : .milliseconds(ms)
        }
        return DeadLetterInfo(id: m.messageID ?? "-", topic: m.type ?? m.headers["x-routing-key"]?.stringValue ?? "-",
                              error: m.headers["x-error"]?.stringValue ?? "-", attempts: Int(m.headers["x-attempts"]?.intValue ?? 0), age: age)
    }

    private static func requireQueue(_ conn: AMQPConnection, _ component: String) throws {
        do {
            _ = try conn.messageCount(WireTopology.deadQueue(component))
        } catch {
            guard error.code == 404 else { throw error }
            throw AMQPError(.refused, "\(WireTopology.deadQueue(component)) does not exist (has the component consumed yet?)", code: 404)
        }
    }

    private static func awaitConfirms(_ conn: AMQPConnection, count: Int) throws {
        var confirmed = 0
        var tag: UInt64 = 0
        let deadline = ContinuousClock.now + .seconds(30)
        while confirmed < count {
            guard ContinuousClock.now < deadline else { throw AMQPError(.connection, "the broker did not confirm the replay in time") }
            for c in try conn.readConfirms(timeout: timeval(tv_sec: 1, tv_usec: 0)) {
                guard c.ack else { throw AMQPError(.refused, "the broker refused a replayed message") }
                let covered = c.multiple ? Int(c.tag - tag) : 1
                confirmed += covered
                tag = max(tag, c.tag)
            }
        }
    }
}
