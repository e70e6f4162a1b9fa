import ActorRuntime
import Bridges
import Foundation

/// Notification's delivery log (`notification_deliveries`, one row per event, channel and recipient, and
/// `notification_attempts`, one per try): senders claim due deliveries with a lease, and record each
/// attempt's outcome with the next try or the end.
///
/// A claim takes a row under `FOR UPDATE SKIP LOCKED` and leases it (`lease_until`), so two senders (two
/// nodes) never send one delivery at once; a sender that dies lets its lease run out and another sends it
/// again: at least once, as with Stripe's webhooks, and the event id in every webhook lets a receiver drop
/// the second. Claims take at most a few deliveries per recipient and none of the recipients the sender
/// already keeps busy, so a slow or dead endpoint cannot take every sender's slots.
public enum DeliveryLog {
    /// A claimed delivery: one attempt to make.
    public struct Claimed: Sendable {
        public let id: Int64
        public let eventID: UUID
        public let topic: String
        public let channel: String
        public let recipient: String
        public let partner: UUID?
        public let subject: String
        public let body: String
        /// This attempt's number, from 1.
        public let attempt: Int
        public let giveUpAt: Date
        /// The partner's webhook signing secret, sealed (webhooks only).
        public let sealedSecret: JSONValue?
    }

    /// What one attempt gave.
    public struct Attempt: Sendable {
        public var started: Date
        public var duration: Duration
        /// The HTTP status or SMTP reply code, if there was one.
        public var code: Int?
        /// Why it failed; nil when it was delivered.
        public var error: String?
        /// Trying again cannot help (a 4xx other than 408 and 429; an SMTP 5xx).
        public var permanent = false
        /// The receiver asked for this much time before the next try (429 `Retry-After`).
        public var retryAfter: Duration?

        public init(started: Date, duration: Duration, code: Int?, error: String?, permanent: Bool = false, retryAfter: Duration? = nil) {
            (self.started, self.duration, self.code, self.error, self.permanent, self.retryAfter) = (started, duration, code, error, permanent, retryAfter)
        }
    }

    public enum Outcome: Sendable, Equatable {
        case delivered
        case retry(at: Date)
        case failed(reason: String)
    }

    /// Claims up to `limit` due deliveries, at most `perRecipient` of one recipient and none of `busy`.
    public static func claim(limit: Int, busy: [String], perRecipient: Int, lease: Duration, on db: PostgresConnection) throws -> [Claimed] {
        try db.query("""
            WITH due AS (
                SELECT id, recipient, next_attempt_at FROM notification_deliveries
                WHERE status IN ('pending', 'retrying') AND next_attempt_at <= now() AND (lease_until IS NULL OR lease_until < now())
                  AND NOT (recipient = ANY($2::text[]))
                ORDER BY next_attempt_at LIMIT 2000
            ), candidates AS (
                SELECT id FROM (SELECT id, next_attempt_at, row_number() OVER (PARTITION BY recipient ORDER BY next_attempt_at, id) AS rn FROM due) r
                WHERE rn <= $3 ORDER BY next_attempt_at, id LIMIT $1
            ), claimed AS (
                SELECT d.id FROM notification_deliveries d
                WHERE d.id IN (SELECT id FROM candidates) AND d.status IN ('pending', 'retrying') AND (d.lease_until IS NULL OR d.lease_until < now())
                FOR UPDATE SKIP LOCKED
            )
            UPDATE notification_deliveries d SET lease_until = now() + make_interval(secs => $4), attempts = d.attempts + 1, updated_at = now()
            FROM claimed WHERE d.id = claimed.id
            RETURNING d.id, d.event_id, d.topic, d.channel, d.recipient, d.partner_id, d.subject, d.body, d.attempts, d.give_up_at,
                      (SELECT w.secret_sealed FROM partner_webhooks w WHERE w.partner_id = d.partner_id) AS secret_sealed
            """, [limit, PostgresArray(busy), perRecipient, lease.inSeconds]).rows.map { row in
            Claimed(id: try row.decode("id"), eventID: try row.decode("event_id"), topic: try row.decode("topic"), channel: try row.decode("channel"),
                    recipient: try row.decode("recipient"), partner: try row.decode("partner_id"), subject: try row.decode("subject"),
                    body: try row.decode("body"), attempt: try row.decode("attempts"), giveUpAt: try row.decode("give_up_at"),
                    sealedSecret: try row.decode("secret_sealed"))
        }
    }

    /// Records `attempt` of `delivery` and decides what comes next: delivered; a retry after the schedule's
    /// delay (at least the receiver's `Retry-After`) while that is before the delivery's give-up time; else
    /// failed, with an `alert.raised` event (in the same transaction). A sender whose lease ran out and
    /// whose delivery another sender claimed again changes nothing but the attempts log.
    @discardableResult
    public static func record(_ attempt: Attempt, of delivery: Claimed, schedule: RetryPolicy, now: Date = Date(),
                              on db: PostgresConnection) throws -> Outcome {
        let outcome: Outcome
        if attempt.error == nil {
            outcome = .delivered
        } else if attempt.permanent {
            outcome = .failed(reason: "refused: \(attempt.error!)")
        } else {
            var delay = schedule.delay(afterAttempt: delivery.attempt)
            if let asked = attempt.retryAfter, asked > delay { delay = asked }
            let next = now.addingTimeInterval(delay.inSeconds)
            outcome = next < delivery.giveUpAt ? .retry(at: next)
                : .failed(reason: "gave up after \(delivery.attempt) attempts: \(attempt.error!)")
        }
        let (word, status, next): (String, String, Date?) = switch outcome {
        case .delivered: ("delivered", "delivered", nil)
        case .retry(let at): ("retry", "retrying", at)
        case .failed: ("failed", "failed", nil)
        }
        try db.query("""
            INSERT INTO notification_attempts (delivery_id, attempt, started_at, duration_ms, outcome, status_code, error)
            VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING
            """, [delivery.id, delivery.attempt, attempt.started, attempt.duration.inSeconds * 1000, word, attempt.code, attempt.error])
        let updated = try db.query("""
            UPDATE notification_deliveries SET status = $3, last_code = $4, last_error = $5, next_attempt_at = coalesce($6, next_attempt_at),
                   lease_until = NULL, updated_at = now(), delivered_at = CASE WHEN $3 = 'delivered' THEN now() END
            WHERE id = $1 AND attempts = $2 AND status IN ('pending', 'retrying')
            """, [delivery.id, delivery.attempt, status, attempt.code, attempt.error, next]).affectedRows
        if updated == 1, case .failed(let reason) = outcome, delivery.topic != DomainTopic.alertRaised {
            try TransactionalOutbox.emit(Envelope(topic: DomainTopic.alertRaised, producerId: Component.notification.rawValue,
                                                  correlationId: "delivery-\(delivery.id)", payload: .object([
                "kind": .string("notification.failed"),
                "message": .string("The \(delivery.channel) notification of \(delivery.topic) (event \(delivery.eventID.lowercasedString)) was not delivered: \(reason)"),
                "eventId": .string(delivery.eventID.lowercasedString), "deliveryId": .number(Double(delivery.id)),
                "channel": .string(delivery.channel), "topic": .string(delivery.topic),
                "partnerId": delivery.partner.map { .string($0.lowercasedString) } ?? .null,
            ])), on: db)
        }
        return outcome
    }
}
