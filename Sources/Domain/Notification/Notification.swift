import ActorRuntime
import Bridges
import Foundation

/// Notification: turns the events partners and operators care about into deliveries: `order.completed`
/// and `order.failed` to the partner (its webhook, and its email when SMTP is configured), `alert.raised`
/// to the operators' address. The handler only renders and records a delivery per recipient in its
/// delivery's transaction (`notification_deliveries`, unique per event, channel and recipient); senders
/// (``DeliveryLog`` claims) deliver them, so a partner that is down holds no mailbox and no prefetch slot.
public enum Notification {
    public struct Settings: Sendable {
        public var templates: NotificationTemplates
        /// Whether email is sent (SMTP is configured).
        public var email: Bool
        /// Where `alert.raised` is emailed; nil: nowhere (the alert is still an event Analytics keeps).
        public var alertEmail: String?
        /// How long a delivery is retried before it is `failed` (and alerted).
        public var retryFor: Duration

        public init(templates: NotificationTemplates, email: Bool = false, alertEmail: String? = nil, retryFor: Duration = .seconds(86_400)) {
            self.templates = templates
            self.email = email
            self.alertEmail = alertEmail
            self.retryFor = retryFor
        }
    }

    /// Rung after a transaction recorded deliveries: this process's senders look at once.
    public static let bell = InProcessBell()

    /// The topics Notification consumes.
    public static let topics = [SagaTopic.orderCompleted, SagaTopic.orderFailed, DomainTopic.alertRaised]

    public static func router(_ settings: Settings) -> TopicRouter {
        let handler: EnvelopeConsumer.Handler = { envelope, context in try enqueue(envelope, settings, on: context.db) }
        return TopicRouter(.notification, Dictionary(uniqueKeysWithValues: topics.map { ($0, handler) }))
    }

    /// A delivery to record.
    struct Planned {
        let channel: String, recipient: String, partner: UUID?, subject: String, body: String
    }

    /// Renders `envelope`'s notifications and records one delivery per recipient (a redelivered event
    /// records nothing more).
    static func enqueue(_ envelope: Envelope, _ settings: Settings, on db: PostgresConnection) throws {
        let planned = envelope.topic == DomainTopic.alertRaised ? try alert(envelope, settings) : try orderOutcome(envelope, settings, on: db)
        guard !planned.isEmpty else { return }
        let giveUp = envelope.timestamp.addingTimeInterval(settings.retryFor.inSeconds)
        for p in planned {
            try db.query("""
                INSERT INTO notification_deliveries (event_id, topic, channel, recipient, partner_id, subject, body, give_up_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                ON CONFLICT (event_id, channel, recipient) DO NOTHING
                """, [envelope.id, envelope.topic, p.channel, p.recipient, p.partner, p.subject, p.body, giveUp])
        }
        db.afterCommit(bell.ring)
    }

    private static func orderOutcome(_ envelope: Envelope, _ settings: Settings, on db: PostgresConnection) throws -> [Planned] {
        let p = Payload(envelope)
        let order = try p.uuid("orderId")
        guard let row = try db.query("""
            SELECT o.reference_id, o.sku, o.currency, o.partner_id, p.name, p.email, w.url
            FROM orders o JOIN partners p ON p.id = o.partner_id LEFT JOIN partner_webhooks w ON w.partner_id = p.id
            WHERE o.id = $1
            """, [order]).rows.first else {
            throw NotificationTemplates.Problem(description: "\(envelope.topic): order \(order.lowercasedString) does not exist")
        }
        let partner: UUID = try row.decode("partner_id")
        var data = envelope.payload.flatStrings
        data["partnerName"] = try row.decode("name", as: String.self)
        data["referenceId"] = try row.decode("reference_id", as: String.self)
        data["sku"] = try row.decode("sku", as: String.self)
        data["currency"] = try row.decode("currency", as: String.self)
        let (subject, text) = try settings.templates.render(envelope.topic, data)
        var planned: [Planned] = []
        if let url: String = try row.decode("url") {
            var event = envelope.payload
            if case .object(var fields) = event { fields["referenceId"] = .string(data["referenceId"]!); event = .object(fields) }
            let body = JSONValue.object([
                "id": .string(envelope.id.lowercasedString), "type": .string(envelope.topic), "created": .string(Timestamp.format(envelope.timestamp)),
                "data": event, "subject": .string(subject), "message": .string(text),
            ])
            planned.append(Planned(channel: "webhook", recipient: url, partner: partner, subject: subject, body: String(decoding: body.jsonBytes, as: UTF8.self)))
        }
        if settings.email, let email: String = try row.decode("email") {
            planned.append(Planned(channel: "email", recipient: email, partner: partner, subject: subject, body: text))
        }
        return planned
    }

    private static func alert(_ envelope: Envelope, _ settings: Settings) throws -> [Planned] {
        guard settings.email, let to = settings.alertEmail else { return [] }
        var data = envelope.payload.flatStrings
        data["raisedAt"] = Timestamp.format(envelope.timestamp)
        let (subject, text) = try settings.templates.render(envelope.topic, data)
        return [Planned(channel: "email", recipient: to, partner: nil, subject: subject, body: text)]
    }
}

extension JSONValue {
    /// An object's members as text for a template (strings as they are, numbers without a needless `.0`);
    /// nested values are left out.
    var flatStrings: [String: String] {
        guard case .object(let fields) = self else { return [:] }
        return fields.compactMapValues { value in
            switch value {
            case .string(let s): s
            case .number(let n): n == n.rounded() && abs(n) < 1e15 ? String(Int64(n)) : String(format: "%.2f", n)
            case .bool(let b): b ? "true" : "false"
            default: nil
            }
        }
    }
}
