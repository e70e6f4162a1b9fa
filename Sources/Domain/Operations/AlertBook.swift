import ActorRuntime
import Bridges
import Foundation

/// Which alert conditions hold, so that one condition alerts once, not at every run of the job that checks
/// it: a condition alerts when it first holds, again when it comes back after it was gone for a quiet
/// period, and as a reminder while it holds for long. A condition that comes back sooner (flapping) does not
/// alert again. Kept in `alert_states`, in the checking job's transaction.
public struct AlertBook: Sendable, Equatable {
    /// How long a condition must have been gone before it alerts again.
    public var quietPeriod: Duration = .seconds(3600)
    /// How often a condition that keeps holding alerts again.
    public var remindAfter: Duration = .seconds(86_400)

    public init(quietPeriod: Duration = .seconds(3600), remindAfter: Duration = .seconds(86_400)) {
        self.quietPeriod = quietPeriod
        self.remindAfter = remindAfter
    }

    /// A condition a job found: `key` is what deduplication is by; `kind` and `message` go into the alert.
    public struct Condition: Sendable, Equatable {
        public let key: String
        public let kind: String
        public let message: String

        public init(key: String, kind: String, message: String) {
            self.key = key
            self.kind = kind
            self.message = message
        }
    }

    /// What a run found: its conditions, and the key prefixes it did not look at (a queue not read, the
    /// offenders of a kind beyond ``Findings/limit``), which are neither raised nor taken for gone.
    public struct Findings: Sendable {
        /// Offenders of one kind alerted one by one in a run; beyond them, one condition says how many more.
        public static let limit = 100
        /// The `LIMIT` of a query whose rows go to ``each(_:prefix:kind:more:_:)``: one more than ``limit``, to see
        /// whether there are more.
        public static let rowsToRead = limit + 1

        public var conditions: [Condition] = []
        public var unchecked: [String] = []

        public init(_ conditions: [Condition] = [], unchecked: [String] = []) {
            self.conditions = conditions
            self.unchecked = unchecked
        }

        public mutating func append(_ condition: Condition) { conditions.append(condition) }

        /// A condition per offender of `rows` (read with `LIMIT` ``rowsToRead``), keyed `prefix` + its id; when
        /// there are more, one `prefix + "more"` condition, and the kind's other keys are left as they are.
        public mutating func each<Row>(_ rows: [Row], prefix: String, kind: String, more: String,
                                       _ offender: (Row) throws -> (id: String, message: String)) rethrows {
            for row in rows.prefix(Self.limit) {
                let (id, message) = try offender(row)
                conditions.append(Condition(key: prefix + id, kind: kind, message: message))
            }
            guard rows.count > Self.limit else { return }
            conditions.append(Condition(key: prefix + "more", kind: kind, message: "Over \(Self.limit) \(more); the first \(Self.limit) alert one by one"))
            unchecked.append(prefix)
        }
    }

    /// Records ``Findings``: their conditions, and their keys not looked at.
    @discardableResult
    public func record(_ findings: Findings, scope: String, producer: Component,
                       on db: PostgresConnection) throws -> [Condition] {
        try record(findings.conditions, scope: scope, producer: producer, unchecked: findings.unchecked, on: db)
    }

    /// Records what job `scope` found: conditions of its that are no longer found are marked gone (except
    /// those whose key starts with one of `unchecked`: not looked at this run), and `alert.raised` (from
    /// `producer`) is emitted for each found condition that should alert now. - Returns: the conditions
    /// that alerted.
    @discardableResult
    public func record(_ found: [Condition], scope: String, producer: Component, unchecked: [String] = [],
                       on db: PostgresConnection) throws -> [Condition] {
        try db.query("""
            UPDATE alert_states SET cleared_at = now() WHERE scope = $1 AND cleared_at IS NULL AND NOT (condition = ANY ($2::text[]))
              AND NOT EXISTS (SELECT 1 FROM unnest($3::text[]) AS u(prefix) WHERE starts_with(condition, u.prefix))
            """, [scope, PostgresArray(found, \.key), PostgresArray(unchecked)])
        // A condition gone for longer than the quiet period alerts again when it comes back, as a new one
        // would: its row can go.
        try db.query("DELETE FROM alert_states WHERE scope = $1 AND cleared_at < now() - make_interval(secs => $2)", [scope, quietPeriod.inSeconds])
        var raised: [Condition] = []
        for condition in found {
            let alerts: Bool = try db.query("""
                INSERT INTO alert_states (condition, scope, raised_at, seen_at, message) VALUES ($1, $2, now(), now(), $3)
                ON CONFLICT (condition) DO UPDATE SET seen_at = now(), message = EXCLUDED.message, cleared_at = NULL,
                    raised_at = CASE WHEN alert_states.cleared_at < now() - make_interval(secs => $4)
                                       OR alert_states.raised_at < now() - make_interval(secs => $5)
                                     THEN now() ELSE alert_states.raised_at END
                RETURNING raised_at = now() AS alerts
                """, [condition.key, scope, condition.message, quietPeriod.inSeconds, remindAfter.inSeconds]).rows[0].decode("alerts")
            if alerts { raised.append(condition) }
        }
        try TransactionalOutbox.emit(raised.map { condition in
            Envelope(topic: DomainTopic.alertRaised, producerId: producer.rawValue, correlationId: "\(scope)-\(UUID.v7().lowercasedString)",
                     payload: .object(["kind": .string(condition.kind), "message": .string(condition.message), "condition": .string(condition.key)]))
        }, on: db)
        return raised
    }
}
