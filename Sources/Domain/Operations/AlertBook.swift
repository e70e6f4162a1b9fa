import ActorRuntime
import Bridges
import Crypto
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

    /// A short digest of a set of offenders, for a key that changes when the set does.
    public static func digest(_ items: [String]) -> String {
        SHA256.hash(data: Array(items.joined(separator: ",").utf8)).prefix(8).map { String(format: "%02x", $0) }.joined()
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
