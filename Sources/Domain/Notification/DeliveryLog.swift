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

        /// What its sends count against: its URL for a webhook; `smtp` for every email (one server takes them).
        public var slot: String { channel == "email" ? "smtp" : recipient }
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

    /// Claims up to `limit` due deliveries, none for a slot (a webhook URL; `smtp` for every email) already
    /// at `perRecipient` in flight (`inFlight`), and at most as many more as it has left. Each query looks at
    /// the `8 × limit` longest due; a round repeats it leaving out the slots it has claimed for, so a slot
    /// with a long backlog (an endpoint that fails fast, whose retries keep coming due first) gets its few
    /// and the others theirs, instead of filling the window.
    public static func claim(limit: Int, inFlight: [String: Int], perRecipient: Int, lease: Duration, on db: PostgresConnection) throws -> [Claimed] {
        var claimed: [Claimed] = [], counts = inFlight
        for _ in 0..<8 where claimed.count < limit {
            let excluded = counts.filter { $0.value >= perRecipient }.map(\.key) + Set(claimed.map(\.slot)).filter { (counts[$0] ?? 0) < perRecipient }
            let more = try claimOnce(limit: limit - claimed.count, excluded: excluded, inFlight: counts, perRecipient: perRecipient, lease: lease, on: db)
            if more.isEmpty { break }
            for d in more { counts[d.slot, default: 0] += 1 }
            claimed += more
        }
        return claimed
    }

    private static func claimOnce(limit: Int, excluded: [String], inFlight: [String: Int], perRecipient: Int, lease: Duration,
                                  on db: PostgresConnection) throws -> [Claimed] {
        let (sql, parameters) = claimStatement(limit: limit, excluded: excluded, inFlight: inFlight, perRecipient: perRecipient, lease: lease)
        return try db.query(sql, parameters).rows.map { row in
            Claimed(id: try row.decode("id"), eventID: try row.decode("event_id"), topic: try row.decode("topic"), channel: try row.decode("channel"),
                    recipient: try row.decode("recipient"), partner: try row.decode("partner_id"), subject: try row.decode("subject"),
                    body: try row.decode("body"), attempt: try row.decode("attempts"), giveUpAt: try row.decode("give_up_at"),
                    sealedSecret: try row.decode("secret_sealed"))
        }
    }

    /// One claim's statement. The rows it locks are found by their ids only, and checked once locked (still
    /// due, not leased, not ended: another sender may have taken, sent and recorded one meanwhile; the
    /// `OFFSET 0` keeps the check out of the scan): with a due-state condition there, a plan cached while
    /// the statistics said nothing was pending read every due row per claim, 35 ms with 4,000 waiting.
    static func claimStatement(limit: Int, excluded: [String], inFlight: [String: Int], perRecipient: Int,
                               lease: Duration) -> (String, [any PostgresEncodable]) {
        let slots = Array(inFlight)
        return ("""
            WITH due AS (
                SELECT id, next_attempt_at, CASE WHEN channel = 'email' THEN 'smtp' ELSE recipient END AS slot FROM notification_deliveries
                WHERE status IN ('pending', 'retrying') AND next_attempt_at <= now() AND (lease_until IS NULL OR lease_until < now())
                  AND NOT ((CASE WHEN channel = 'email' THEN 'smtp' ELSE recipient END) = ANY($2::text[]))
                ORDER BY next_attempt_at LIMIT $1 * 8
            ), ranked AS (
                SELECT due.id, due.next_attempt_at, coalesce(f.n, 0) AS busy,
                       row_number() OVER (PARTITION BY due.slot ORDER BY due.next_attempt_at, due.id) AS rn
                FROM due LEFT JOIN unnest($5::text[], $6::int[]) AS f(slot, n) ON f.slot = due.slot
            ), candidates AS (
                SELECT id FROM ranked WHERE rn <= $3 - busy ORDER BY next_attempt_at, id LIMIT $1
            ), claimed AS (
                SELECT locked.id FROM (
                    SELECT d.id, d.status, d.lease_until, d.next_attempt_at FROM notification_deliveries d
                    WHERE d.id = ANY(ARRAY(SELECT id FROM candidates))
                    OFFSET 0 FOR UPDATE SKIP LOCKED
                ) locked
                WHERE locked.status IN ('pending', 'retrying') AND (locked.lease_until IS NULL OR locked.lease_until < now())
                  AND locked.next_attempt_at <= now()
            )
            UPDATE notification_deliveries d SET lease_until = now() + make_interval(secs => $4), attempts = d.attempts + 1, updated_at = now()
            FROM claimed WHERE d.id = claimed.id
            RETURNING d.id, d.event_id, d.topic, d.channel, d.recipient, d.partner_id, d.subject, d.body, d.attempts, d.give_up_at,
                      (SELECT w.secret_sealed FROM partner_webhooks w WHERE w.partner_id = d.partner_id) AS secret_sealed
            """, [limit, PostgresArray(excluded), perRecipient, lease.inSeconds, PostgresArray(slots.map(\.key)), PostgresArray(slots.map(\.value))])
    }

    /// Records `attempt` of `delivery` and decides what comes next: see ``record(_:schedule:now:on:)``.
    @discardableResult
    public static func record(_ attempt: Attempt, of delivery: Claimed, schedule: RetryPolicy, now: Date = Date(),
                              on db: PostgresConnection) throws -> Outcome {
        try record([(attempt, delivery)], schedule: schedule, now: now, on: db)[0]
    }

    /// What comes after `attempt` of `delivery`: delivered; a retry after the schedule's delay (at least
    /// the receiver's `Retry-After`) while that is before the delivery's give-up time; else failed.
    public static func outcome(of attempt: Attempt, _ delivery: Claimed, schedule: RetryPolicy, now: Date) -> Outcome {
        guard let error = attempt.error else { return .delivered }
        if attempt.permanent { return .failed(reason: "refused: \(error)") }
        var delay = schedule.delay(afterAttempt: delivery.attempt)
        if let asked = attempt.retryAfter, asked > delay { delay = asked }
        let next = now.addingTimeInterval(delay.inSeconds)
        return next < delivery.giveUpAt ? .retry(at: next) : .failed(reason: "gave up after \(delivery.attempt) attempts: \(error)")
    }

    /// Records attempts in one transaction's two statements (one per table, whatever their number) and
    /// returns each one's ``outcome(of:_:schedule:now:)``. A delivery that failed for good raises an
    /// `alert.raised` event in the same transaction. A sender whose lease ran out and whose delivery another
    /// sender claimed again changes nothing but the attempts log (the update is guarded by the attempt).
    @discardableResult
    public static func record(_ attempts: [(Attempt, Claimed)], schedule: RetryPolicy, now: Date = Date(),
                              on db: PostgresConnection) throws -> [Outcome] {
        let outcomes = attempts.map { outcome(of: $0.0, $0.1, schedule: schedule, now: now) }
        let rows = zip(attempts, outcomes).map { pair, outcome -> (Attempt, Claimed, word: String, status: String, next: Date?) in
            switch outcome {
            case .delivered: (pair.0, pair.1, "delivered", "delivered", nil)
            case .retry(let at): (pair.0, pair.1, "retry", "retrying", at)
            case .failed: (pair.0, pair.1, "failed", "failed", nil)
            }
        }
        try db.query("""
            INSERT INTO notification_attempts (delivery_id, attempt, started_at, duration_ms, outcome, status_code, error)
            SELECT * FROM unnest($1::bigint[], $2::int[], $3::timestamptz[], $4::float8[], $5::text[], $6::int[], $7::text[])
            ON CONFLICT DO NOTHING
            """, [PostgresArray(rows) { $0.1.id }, PostgresArray(rows) { $0.1.attempt }, PostgresArray(rows) { $0.0.started },
                  PostgresArray(rows) { $0.0.duration.inSeconds * 1000 }, PostgresArray(rows) { $0.word }, PostgresArray(rows) { $0.0.code },
                  PostgresArray(rows) { $0.0.error }])
        let updated = Set(try db.query("""
            UPDATE notification_deliveries d SET status = u.status, last_code = u.code, last_error = u.error,
                   next_attempt_at = coalesce(u.next, d.next_attempt_at), lease_until = NULL, updated_at = now(),
                   delivered_at = CASE WHEN u.status = 'delivered' THEN now() END,
                   ended_at = CASE WHEN u.status IN ('delivered', 'failed') THEN now() END
            FROM unnest($1::bigint[], $2::int[], $3::text[], $4::int[], $5::text[], $6::timestamptz[]) AS u(id, attempt, status, code, error, next)
            WHERE d.id = u.id AND d.attempts = u.attempt AND d.status IN ('pending', 'retrying')
            RETURNING d.id
            """, [PostgresArray(rows) { $0.1.id }, PostgresArray(rows) { $0.1.attempt }, PostgresArray(rows) { $0.status },
                  PostgresArray(rows) { $0.0.code }, PostgresArray(rows) { $0.0.error }, PostgresArray(rows) { $0.next }])
            .rows.map { try $0.decode("id", as: Int64.self) })
        var alerts: [Envelope] = []
        for ((_, delivery), outcome) in zip(attempts, outcomes) where updated.contains(delivery.id) && delivery.topic != DomainTopic.alertRaised {
            guard case .failed(let reason) = outcome else { continue }
            alerts.append(Envelope(topic: DomainTopic.alertRaised, producerId: Component.notification.rawValue,
                                   correlationId: "delivery-\(delivery.id)", payload: .object([
                "kind": .string("notification.failed"),
                "message": .string("The \(delivery.channel) notification of \(delivery.topic) (event \(delivery.eventID.lowercasedString)) was not delivered: \(reason)"),
                "eventId": .string(delivery.eventID.lowercasedString), "deliveryId": .number(Double(delivery.id)),
                "channel": .string(delivery.channel), "topic": .string(delivery.topic),
                "partnerId": delivery.partner.map { .string($0.lowercasedString) } ?? .null,
            ])))
        }
        try TransactionalOutbox.emit(alerts, on: db)
        return outcomes
    }
}
