import ActorRuntime
import Bridges
import Foundation

/// One batch of ``OrderDesk`` accepts, written with two set-based statements whatever its size: the
/// prices, then one statement that inserts the new orders and their `order.created` envelopes together
/// (atomic, as a single statement is, and one commit for the lot). Requests of one batch with the same
/// referenceId create one order. An order that exists already (a retry, or a concurrent batch inserted
/// it first) is skipped by `ON CONFLICT DO NOTHING` and read by a third statement, only then.
enum AcceptBatch {
    private struct Key: Hashable {
        let partner: UUID
        let referenceId: String
    }

    private struct Pricing {
        let productID: Int64
        let currency: String
        let minimum: Decimal
        let maximum: Decimal
        let percent: Decimal
    }

    private struct NewOrder {
        let id: UUID
        let submission: OrderDesk.Submission
        let pricing: Pricing
        let unitPrice: Decimal
        let total: Decimal
        let envelope: Envelope
    }

    static func write(_ submissions: [OrderDesk.Submission], on db: PostgresConnection) throws -> [Result<OrderDesk.Acceptance, any Error>] {
        let keys = submissions.map { Key(partner: $0.partner, referenceId: $0.request.referenceId) }
        let prices = try pricing(for: submissions, on: db)
        var creators: [Key: Int] = [:], refusals: [Int: OrderDesk.Refusal] = [:]
        var rows: [NewOrder] = []
        for (i, submission) in submissions.enumerated() where creators[keys[i]] == nil {
            switch newOrder(submission, pricing: prices[PricingKey(partner: submission.partner, sku: submission.request.sku)]) {
            case .failure(let refusal): refusals[i] = refusal
            case .success(let row):
                creators[keys[i]] = i
                rows.append(row)
            }
        }
        let inserted = try insert(rows, on: db)
        // Retries of existing orders (the insert found them), and refused requests, which are answered
        // with their order if it exists (a retry of an order whose product has changed since).
        var orders = inserted
        let unresolved = Set(creators.keys).subtracting(inserted.keys).union(refusals.keys.map { keys[$0] })
        if !unresolved.isEmpty { orders.merge(try existing(unresolved, on: db)) { new, _ in new } }

        return submissions.enumerated().map { i, submission in
            let key = keys[i], request = submission.request
            guard let order = orders[key] else {
                return .failure(refusals[i] ?? OrderDesk.Refusal.conflict("referenceId '\(request.referenceId)' is being created concurrently; retry"))
            }
            let created = creators[key] == i && inserted[key] != nil
            return created || order.matches(request)
                ? .success(OrderDesk.Acceptance(order: order, created: created))
                : .failure(OrderDesk.Refusal.conflict("referenceId '\(request.referenceId)' was used for a different order"))
        }
    }

    /// The order of a batch member, priced, or why it cannot be ordered.
    private static func newOrder(_ submission: OrderDesk.Submission, pricing: Pricing?) -> Result<NewOrder, OrderDesk.Refusal> {
        let request = submission.request
        guard let pricing else { return .failure(.invalid(field: "sku", message: "unknown product '\(request.sku)'")) }
        guard request.faceValue >= pricing.minimum, request.faceValue <= pricing.maximum else {
            return .failure(.invalid(field: "faceValue",
                                     message: "must be from \(Money.format(pricing.minimum)) to \(Money.format(pricing.maximum)) for \(request.sku)"))
        }
        let unitPrice = Money.round(request.faceValue * pricing.percent / 100)
        let total = unitPrice * Decimal(request.quantity)
        let id = UUID.v7()
        let envelope = Envelope(topic: SagaTopic.orderCreated, producerId: Component.orderQueue.rawValue, correlationId: submission.correlationId,
                                payload: .object([
            "orderId": .string(id.lowercasedString), "partnerId": .string(submission.partner.lowercasedString),
            "productId": .number(Double(pricing.productID)), "sku": .string(request.sku), "faceValue": Money.json(request.faceValue),
            "quantity": .number(Double(request.quantity)), "total": Money.json(total), "currency": .string(pricing.currency),
        ]))
        return .success(NewOrder(id: id, submission: submission, pricing: pricing, unitPrice: unitPrice, total: total, envelope: envelope))
    }

    private static func existing(_ keys: Set<Key>, on db: PostgresConnection) throws -> [Key: Order] {
        guard !keys.isEmpty else { return [:] }
        let list = Array(keys)
        let rows = try db.query("""
            SELECT \(Order.columns) FROM orders
            WHERE (partner_id, reference_id) IN (SELECT * FROM unnest($1::uuid[], $2::text[]))
            """, [PostgresArray(list.map(\.partner)), PostgresArray(list.map(\.referenceId))]).rows
        return try Dictionary(rows.map { row in
            let order = try Order(row: row)
            return (Key(partner: order.partnerID, referenceId: order.referenceId), order)
        }) { first, _ in first }
    }

    private struct PricingKey: Hashable {
        let partner: UUID
        let sku: String
    }

    /// What each (partner, sku) of `submissions` costs: the partner's price for the product, else its default.
    private static func pricing(for submissions: [OrderDesk.Submission], on db: PostgresConnection) throws -> [PricingKey: Pricing] {
        let wanted = Array(Set(submissions.map { PricingKey(partner: $0.partner, sku: $0.request.sku) }))
        guard !wanted.isEmpty else { return [:] }
        let rows = try db.query("""
            SELECT k.partner_id, p.sku, p.id, p.currency, p.min_face_value, p.max_face_value,
                   COALESCE(pp.price_percent, pa.default_price_percent) AS price_percent
            FROM unnest($1::uuid[], $2::text[]) AS k(partner_id, sku)
            JOIN products p ON p.sku = k.sku AND p.available
            JOIN partners pa ON pa.id = k.partner_id
            LEFT JOIN partner_pricing pp ON pp.partner_id = pa.id AND pp.product_id = p.id
            """, [PostgresArray(wanted.map(\.partner)), PostgresArray(wanted.map(\.sku))]).rows
        return try Dictionary(rows.map { row in
            (PricingKey(partner: try row.decode("partner_id"), sku: try row.decode("sku")),
             Pricing(productID: try row.decode("id"), currency: try row.decode("currency"), minimum: try row.decode("min_face_value"),
                     maximum: try row.decode("max_face_value"), percent: try row.decode("price_percent")))
        }) { first, _ in first }
    }

    /// Inserts `rows` and, for those that were new, their envelopes into the outbox, in one statement;
    /// returns the orders it created.
    private static func insert(_ rows: [NewOrder], on db: PostgresConnection) throws -> [Key: Order] {
        guard !rows.isEmpty else { return [:] }
        let created = try db.query("""
            WITH r AS (
                SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::bigint[], $5::text[], $6::numeric[], $7::int[],
                                     $8::numeric[], $9::numeric[], $10::text[], $11::text[], $12::uuid[], $13::text[], $14::text[])
                    AS r(id, partner_id, reference_id, product_id, sku, face_value, quantity, unit_price, total, currency,
                         correlation_id, envelope_id, topic, envelope)
            ), inserted AS (
                INSERT INTO orders (id, partner_id, reference_id, product_id, sku, face_value, quantity, unit_price, total, currency,
                                    status, step, correlation_id)
                SELECT id, partner_id, reference_id, product_id, sku, face_value, quantity, unit_price, total, currency,
                       'Processing', 'created', correlation_id
                FROM r ORDER BY partner_id, reference_id
                ON CONFLICT (partner_id, reference_id) DO NOTHING
                RETURNING \(Order.columns)
            ), emitted AS (
                INSERT INTO troupe_outbox (id, topic, envelope)
                SELECT r.envelope_id, r.topic, r.envelope FROM r JOIN inserted ON inserted.id = r.id
            )
            SELECT * FROM inserted
            """, [PostgresArray(rows, \.id), PostgresArray(rows, \.submission.partner), PostgresArray(rows, \.submission.request.referenceId),
                  PostgresArray(rows, \.pricing.productID), PostgresArray(rows, \.submission.request.sku),
                  PostgresArray(rows, \.submission.request.faceValue), PostgresArray(rows, \.submission.request.quantity),
                  PostgresArray(rows, \.unitPrice), PostgresArray(rows, \.total), PostgresArray(rows, \.pricing.currency),
                  PostgresArray(rows, \.submission.correlationId), PostgresArray(rows, \.envelope.id), PostgresArray(rows, \.envelope.topic),
                  PostgresArray(rows) { String(decoding: $0.envelope.jsonBytes(), as: UTF8.self) }]).rows
        if !created.isEmpty { OutboxBell.ring() }
        return try Dictionary(created.map { row in
            let order = try Order(row: row)
            return (Key(partner: order.partnerID, referenceId: order.referenceId), order)
        }) { first, _ in first }
    }
}
