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

    /// Sends dead letters back to the component's queue (all, or the one with envelope `id`), attempts reset.
    /// It takes the letters there when it starts (a snapshot: a letter that fails again during the replay
    /// lands behind them and is not taken twice), in AMQP transactions of up to 100 letters, each re-published
    /// and removed in the same transaction: a failure or a lost connection leaves a letter replayed or kept,
    /// never both. A letter that can never be published (a property over 255 bytes) stays, and is reported.
    @discardableResult
    public static func replay(url: String, component: String, id: String?) async throws -> DeadLetterReplay {
        try await AMQPJob.run(url: url) { try replay($0, component, id) }
    }

    static func replay(_ conn: AMQPConnection, _ component: String, _ id: String?) throws -> DeadLetterReplay {
        try requireQueue(conn, component)
        let snapshot = try conn.messageCount(WireTopology.deadQueue(component))
        try conn.txSelect()
        var result = DeadLetterReplay()
        var skipped: [UInt64] = [], uncommitted = 0
        for _ in 0..<snapshot {
            guard let d = try conn.get(queue: WireTopology.deadQueue(component)) else { break }
            guard id == nil || d.message.messageID == id else { skipped.append(d.tag); continue }
            var message = d.message
            for key in ["x-attempts", "x-error", "x-dead-at", "x-routing-key"] { message.headers.removeValue(forKey: key) }
            if let why = message.unpublishableReason(exchange: "", routingKey: WireTopology.queue(component), frameMax: conn.frameMax) {
                skipped.append(d.tag)
                result.kept.append(.init(id: d.message.messageID ?? "-", reason: why))
                continue
            }
            try conn.publish(exchange: "", routingKey: WireTopology.queue(component), message)
            try conn.ack(d.tag)
            result.replayed += 1
            uncommitted += 1
            if uncommitted == 100 { try conn.txCommit(); uncommitted = 0 }
        }
        for tag in skipped { try conn.reject(tag, requeue: true) }      // back in place now, not at close
        try conn.txCommit()
        return result
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
                              error: m.headers["x-error"]?.stringValue ?? brokerReason(m) ?? "-", attempts: Int(m.headers["x-attempts"]?.intValue ?? 0), age: age)
    }

    /// Why the broker itself dead-lettered a message (no `x-error`: e.g. a quorum queue's delivery limit),
    /// from its newest `x-death` entry.
    static func brokerReason(_ m: AMQPMessage) -> String? {
        guard case .array(let deaths)? = m.headers["x-death"], case .table(let last)? = deaths.first,
              let reason = last["reason"]?.stringValue else { return nil }
        return "dead-lettered by the broker: \(reason)" + (last["queue"]?.stringValue.map { " (from \($0))" } ?? "")
    }

    private static func requireQueue(_ conn: AMQPConnection, _ component: String) throws {
        do {
            _ = try conn.messageCount(WireTopology.deadQueue(component))
        } catch {
            guard error.code == 404 else { throw error }
            throw AMQPError(.refused, "\(WireTopology.deadQueue(component)) does not exist (has the component consumed yet?)", code: 404)
        }
    }
}

/// What a replay did: how many letters went back to their queue, and those kept because they can never be
/// published, with why.
public struct DeadLetterReplay: Sendable, Equatable {
    public struct Kept: Sendable, Equatable {
        public var id: String
        public var reason: String
    }
    public var replayed = 0
    public var kept: [Kept] = []
}
