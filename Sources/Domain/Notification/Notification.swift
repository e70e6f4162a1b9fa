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
        let handler: EnvelopeConsumer.Handler = { envelope, context in try enqueue(envelope, settings, context: context) }
        return TopicRouter(.notification, Dictionary(uniqueKeysWithValues: topics.map { ($0, handler) }))
    }

    /// A delivery to record.
    struct Planned {
        let eventID: UUID, topic: String, channel: String, recipient: String, partner: UUID?, subject: String, body: String, giveUpAt: Date
    }

    /// Renders `envelope`'s notifications and records one delivery per recipient (a redelivered event
    /// records nothing more). The orders of the whole batch are looked up at its first event, and the
    /// deliveries of the batch inserted in one statement before it commits.
    static func enqueue(_ envelope: Envelope, _ settings: Settings, context: DeliveryContext) throws {
        let planned = envelope.topic == DomainTopic.alertRaised ? try alert(envelope, settings) : try orderOutcome(envelope, settings, context: context)
        guard !planned.isEmpty else { return }
        let deliveries: Gathered<Planned> = context.gather("notification_deliveries", write: insert)
        for p in planned { try deliveries.append(p) }
        context.db.afterCommit(bell.ring)
    }

    private static func insert(_ planned: [Planned], on db: PostgresConnection) throws {
        try db.query("""
            INSERT INTO notification_deliveries (event_id, topic, channel, recipient, partner_id, subject, body, give_up_at)
            SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::uuid[], $6::text[], $7::text[], $8::timestamptz[])
            ON CONFLICT (event_id, channel, recipient) DO NOTHING
            """, [PostgresArray(planned) { $0.eventID }, PostgresArray(planned) { $0.topic }, PostgresArray(planned) { $0.channel },
                  PostgresArray(planned) { $0.recipient }, PostgresArray(planned) { $0.partner }, PostgresArray(planned) { $0.subject },
                  PostgresArray(planned) { $0.body }, PostgresArray(planned) { $0.giveUpAt }])
    }

    /// What an order's notifications need of it and its partner.
    struct OrderFacts {
        let referenceID: String, sku: String, currency: String, partner: UUID, partnerName: String, email: String?, webhook: String?
    }

    /// The facts of every order the batch's order outcomes name, in one query.
    private static func orders(of batch: [Envelope], on db: PostgresConnection) throws -> [UUID: OrderFacts] {
        let ids = batch.filter { $0.topic != DomainTopic.alertRaised }.compactMap { try? Payload($0).uuid("orderId") }
        guard !ids.isEmpty else { return [:] }
        let rows = try db.query("""
            SELECT o.id, o.reference_id, o.sku, o.currency, o.partner_id, p.name, p.email, w.url
            FROM orders o JOIN partners p ON p.id = o.partner_id LEFT JOIN partner_webhooks w ON w.partner_id = p.id
            WHERE o.id = ANY($1::uuid[])
            """, [PostgresArray(ids)]).rows
        return try Dictionary(rows.map { row in
            (try row.decode("id"), OrderFacts(referenceID: try row.decode("reference_id"), sku: try row.decode("sku"), currency: try row.decode("currency"),
                                             partner: try row.decode("partner_id"), partnerName: try row.decode("name"), email: try row.decode("email"),
                                             webhook: try row.decode("url")))
        }, uniquingKeysWith: { first, _ in first })
    }

    private static func orderOutcome(_ envelope: Envelope, _ settings: Settings, context: DeliveryContext) throws -> [Planned] {
        let order = try Payload(envelope).uuid("orderId")
        // the batch's orders, looked up at its first event (a test's lone context has only this one)
        let batch = context.batch.contains { $0.id == envelope.id } ? context.batch : [envelope]
        guard let facts = try context.memo("notification.orders", { try orders(of: batch, on: context.db) })[order]
                ?? orders(of: [envelope], on: context.db)[order] else {
            throw NotificationTemplates.Problem(description: "\(envelope.topic): order \(order.lowercasedString) does not exist")
        }
        var data = envelope.payload.flatStrings
        data["partnerName"] = facts.partnerName
        data["referenceId"] = facts.referenceID
        data["sku"] = facts.sku
        data["currency"] = facts.currency
        let (subject, text) = try settings.templates.render(envelope.topic, data)
        let giveUp = envelope.timestamp.addingTimeInterval(settings.retryFor.inSeconds)
        var planned: [Planned] = []
        if let url = facts.webhook {
            var event = envelope.payload
            if case .object(var fields) = event { fields["referenceId"] = .string(facts.referenceID); event = .object(fields) }
            let body = JSONValue.object([
                "id": .string(envelope.id.lowercasedString), "type": .string(envelope.topic), "created": .string(Timestamp.format(envelope.timestamp)),
                "data": event, "subject": .string(subject), "message": .string(text),
            ])
            planned.append(Planned(eventID: envelope.id, topic: envelope.topic, channel: "webhook", recipient: url, partner: facts.partner,
                                   subject: subject, body: String(decoding: body.jsonBytes, as: UTF8.self), giveUpAt: giveUp))
        }
        if settings.email, let email = facts.email {
            planned.append(Planned(eventID: envelope.id, topic: envelope.topic, channel: "email", recipient: email, partner: facts.partner,
                                   subject: subject, body: text, giveUpAt: giveUp))
        }
        return planned
    }

    private static func alert(_ envelope: Envelope, _ settings: Settings) throws -> [Planned] {
        guard settings.email, let to = settings.alertEmail else { return [] }
        var data = envelope.payload.flatStrings
        data["raisedAt"] = Timestamp.format(envelope.timestamp)
        let (subject, text) = try settings.templates.render(envelope.topic, data)
        return [Planned(eventID: envelope.id, topic: envelope.topic, channel: "email", recipient: to, partner: nil, subject: subject, body: text,
                        giveUpAt: envelope.timestamp.addingTimeInterval(settings.retryFor.inSeconds))]
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
