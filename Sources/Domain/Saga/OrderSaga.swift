import ActorRuntime
import Bridges
import Foundation

/// OrderQueue's orchestration of an order: reserve stock -> debit the wallet -> place the vendor order
/// -> confirm the reservation -> `Completed`; a failure compensates (refund, release) and ends in `Failed`
/// with a reason. The order's `step` only moves forward: each transition is an UPDATE guarded by the step
/// it leaves, so a replayed or late reply cannot move an order backwards, and a replayed `order.created`
/// (the backfill) re-sends the command of the step the order is waiting in.
public enum OrderSaga {
    /// Where an order is. `status` is Processing until `completed` or `failed`. `placing` holds only orders
    /// an older build left there: the vendor order is placed on `payment.debited` (see ``VendorSteps``).
    public enum Step: String, Sendable {
        case created, reserving, debiting, placing, polling, confirming, completed, compensating, failed
    }

    public static func router(vendor: VendorSteps) -> TopicRouter {
        let rounds = vendor.pollRounds, grace = vendor.notFoundGrace
        return TopicRouter(.orderQueue, [
            SagaTopic.orderCreated: { e, c in try started(e, c.db, emit: c.emit) },
            SagaTopic.reserved: { e, c in try reserved(e, c.db, emit: c.emit) },
            SagaTopic.reserveFailed: { e, c in try reserveFailed(e, c.db, emit: c.emit) },
            SagaTopic.debited: { e, c in try VendorSteps.placed(e, c, from: .debiting) },
            SagaTopic.debitFailed: { e, c in try debitFailed(e, c.db, emit: c.emit) },
            SagaTopic.released: { e, c in try compensated(e, c.db, flag: "release_pending", emit: c.emit) },
            SagaTopic.refunded: { e, c in try compensated(e, c.db, flag: "refund_pending", emit: c.emit) },
            SagaTopic.confirmed: { e, c in try confirmed(e, c.db, emit: c.emit) },
            SagaTopic.placeVendorOrder: { e, c in try VendorSteps.placed(e, c, from: .placing) },
            SagaTopic.pollVendorOrder: { e, c in try VendorSteps.polled(e, c, rounds: rounds, notFoundGrace: grace) },
        ], prepare: vendor.prepare)
    }

    /// What a step's command needs to know about its order.
    struct OrderFacts {
        let id: UUID, partner: UUID, product: Int64, quantity: Int, total: Decimal, step: Step, correlationId: String
        let faceValue: Decimal, vendorProduct: String
        init(_ row: PostgresRow) throws {
            id = try row.decode("id")
            faceValue = try row.decode("face_value")
            vendorProduct = try row.decode("vendor_product")
            partner = try row.decode("partner_id")
            product = try row.decode("product_id")
            quantity = try row.decode("quantity")
            total = try row.decode("total")
            step = Step(rawValue: try row.decode("step")) ?? .failed
            correlationId = try row.decode("correlation_id")
        }
        var idText: JSONValue { .string(id.lowercasedString) }
    }

    static let returning = """
        RETURNING id, partner_id, product_id, quantity, total, step, correlation_id, face_value,
                  (SELECT internal_id FROM products p WHERE p.id = orders.product_id) AS vendor_product
        """

    /// Moves order `id` from one of `from` to `to` (plus `set`, SQL with $2... parameters); nil when the
    /// order is elsewhere (a replay, or a step that already moved on).
    static func transition(_ db: PostgresConnection, _ id: UUID, from: [Step], to: Step, set: String = "",
                           _ parameters: [any PostgresEncodable] = []) throws -> OrderFacts? {
        let status = to == .completed ? "Completed" : to == .failed ? "Failed" : "Processing"
        let steps = "{" + from.map(\.rawValue).joined(separator: ",") + "}"
        let extra = set.isEmpty ? "" : ", " + set
        return try db.query("""
            UPDATE orders SET step = '\(to.rawValue)', status = '\(status)', updated_at = now()\(extra)
            WHERE id = $1 AND step = ANY('\(steps)'::text[]) \(returning)
            """, [id] + parameters).rows.first.map(OrderFacts.init)
    }

    static func facts(_ db: PostgresConnection, _ id: UUID) throws -> OrderFacts? {
        try db.query("SELECT *, (SELECT internal_id FROM products p WHERE p.id = orders.product_id) AS vendor_product FROM orders WHERE id = $1", [id])
            .rows.first.map(OrderFacts.init)
    }

    static func command(_ topic: String, for order: OrderFacts, _ fields: [String: JSONValue]) -> Envelope {
        Envelope(topic: topic, producerId: Component.orderQueue.rawValue, correlationId: order.correlationId,
                 payload: .object(fields.merging(["orderId": order.idText]) { a, _ in a }))
    }

    /// `order.completed` or `order.failed`, the documented domain events (docs/EVENTS.md, version 1):
    /// what Notification and Analytics need without reading OrderQueue's tables.
    static func outcome(_ topic: String, for order: OrderFacts, reason: String?) -> Envelope {
        var fields: [String: JSONValue] = [
            "partnerId": .string(order.partner.lowercasedString), "productId": .number(Double(order.product)),
            "quantity": .number(Double(order.quantity)), "faceValue": Money.json(order.faceValue), "total": Money.json(order.total),
        ]
        if let reason { fields["reason"] = .string(reason) }
        return command(topic, for: order, fields)
    }

    /// The command an order waiting in `step` needs (re-sent by a replayed `order.created`).
    static func pendingCommand(of order: OrderFacts) -> Envelope? {
        switch order.step {
        case .reserving: command(SagaTopic.reserve, for: order, ["productId": .number(Double(order.product)), "quantity": .number(Double(order.quantity))])
        case .debiting: command(SagaTopic.debit, for: order, ["partnerId": .string(order.partner.lowercasedString), "amount": Money.json(order.total)])
        case .placing: command(SagaTopic.placeVendorOrder, for: order, ["vendorProductId": .string(order.vendorProduct),
                                                                       "quantity": .number(Double(order.quantity)), "faceValue": Money.json(order.faceValue)])
        default: nil
        }
    }

    /// `order.created` again for order `id`: its handler re-sends the command of the step the order waits in
    /// (the backfill, the admin re-drive, reconciliation).
    static func redrive(_ id: UUID, correlationId: String) -> Envelope {
        Envelope(topic: SagaTopic.orderCreated, producerId: Component.orderQueue.rawValue, correlationId: correlationId,
                 payload: .object(["orderId": .string(id.lowercasedString), "redrive": .bool(true)]))
    }

    /// The refund of `order`'s debit (idempotent at Payment: once per order, and only of a debit that exists).
    static func refundCommand(for order: OrderFacts) -> Envelope {
        command(SagaTopic.refund, for: order, ["partnerId": .string(order.partner.lowercasedString)])
    }

    /// What reconciliation re-sends for an order that has not moved: the command of the step it waits in.
    static func reconciliationCommands(of order: OrderFacts, releasePending: Bool, refundPending: Bool) -> [Envelope] {
        switch order.step {
        case .created:
            return [redrive(order.id, correlationId: order.correlationId)]
        case .reserving, .debiting, .placing:
            return pendingCommand(of: order).map { [$0] } ?? []
        case .polling:
            return [command(SagaTopic.pollVendorOrder, for: order, ["round": .number(1)])]
        case .confirming:
            return [command(SagaTopic.confirm, for: order, [:])]
        case .compensating:
            return (releasePending ? [command(SagaTopic.release, for: order, [:])] : [])
                + (refundPending ? [refundCommand(for: order)] : [])
        case .completed, .failed:
            return []
        }
    }

    static func started(_ e: Envelope, _ db: PostgresConnection, emit: (Envelope) throws -> Void) throws {
        let id = try Payload(e).uuid("orderId")
        let order = try transition(db, id, from: [.created], to: .reserving) ?? facts(db, id)
        guard let order else { throw SagaViolation("order.created for unknown order \(id.lowercasedString)") }
        if let next = pendingCommand(of: order) { try emit(next) }
    }

    static func reserved(_ e: Envelope, _ db: PostgresConnection, emit: (Envelope) throws -> Void) throws {
        guard let order = try transition(db, try Payload(e).uuid("orderId"), from: [.reserving], to: .debiting) else { return }
        try emit(pendingCommand(of: order)!)
    }

    static func reserveFailed(_ e: Envelope, _ db: PostgresConnection, emit: (Envelope) throws -> Void) throws {
        let p = Payload(e), reason = (try? p.string("reason")) ?? "reservation failed"
        guard let order = try transition(db, try p.uuid("orderId"), from: [.reserving], to: .failed, set: "failure_reason = $2", [reason]) else { return }
        try emit(outcome(SagaTopic.orderFailed, for: order, reason: reason))
    }

    /// A debit refused (insufficient funds). Ignored when the ledger holds the order's debit after all: a
    /// debit re-sent later succeeded (the partner topped up), and its `payment.debited` drives the order;
    /// failing the order here would leave the vendor order placed and the partner's money taken.
    static func debitFailed(_ e: Envelope, _ db: PostgresConnection, emit: (Envelope) throws -> Void) throws {
        let p = Payload(e), reason = (try? p.string("reason")) ?? "debit failed"
        let debited = try !db.query("SELECT 1 FROM wallet_entries WHERE idempotency_key = $1", [Payment.debitKey(try p.uuid("orderId"))]).rows.isEmpty
        if debited { return }
        guard let order = try transition(db, try p.uuid("orderId"), from: [.debiting], to: .compensating,
                                         set: "failure_reason = $2, release_pending = true", [reason]) else { return }
        try emit(command(SagaTopic.release, for: order, [:]))
    }

    /// Leaves `from` for `compensating`: releases the reservation and, once debited, refunds the wallet;
    /// the order is `Failed` with `reason` when both have answered.
    static func compensate(_ context: DeliveryContext, _ id: UUID, from: [Step], reason: String, refund: Bool) throws {
        guard let order = try transition(context.db, id, from: from, to: .compensating,
                                         set: "failure_reason = $2, release_pending = true, refund_pending = $3", [reason, refund]) else { return }
        try context.emit(command(SagaTopic.release, for: order, [:]))
        if refund { try context.emit(refundCommand(for: order)) }
    }

    /// A `payment.debited` for an order that is no longer `debiting`. Its debit is refunded (once: the
    /// refund is idempotent on the order) when the order is failing or failed, where nothing uses it (a
    /// debit re-sent while the first was slow, that succeeded after the first failed and the partner topped
    /// up; or an old debit replayed from a dead-letter queue). An order that went on (polling, confirming,
    /// completed) used the debit: the reply is a replay, and changes nothing.
    static func refundUnusedDebit(_ e: Envelope, _ context: DeliveryContext) throws {
        let id = try Payload(e).uuid("orderId")
        guard let order = try facts(context.db, id), order.step == .compensating || order.step == .failed else { return }
        try context.emit(refundCommand(for: order))
    }

    /// A compensation's reply: clears its flag; the last one marks the order Failed.
    static func compensated(_ e: Envelope, _ db: PostgresConnection, flag: String, emit: (Envelope) throws -> Void) throws {
        let id = try Payload(e).uuid("orderId")
        try db.query("UPDATE orders SET \(flag) = false, updated_at = now() WHERE id = $1 AND step = 'compensating'", [id])
        let rows = try db.query("""
            UPDATE orders SET step = 'failed', status = 'Failed', updated_at = now()
            WHERE id = $1 AND step = 'compensating' AND NOT refund_pending AND NOT release_pending \(returning), failure_reason
            """, [id]).rows
        guard let row = rows.first else { return }
        let reason: String = (try row.decode("failure_reason", as: String?.self)) ?? "failed"
        try emit(outcome(SagaTopic.orderFailed, for: try OrderFacts(row), reason: reason))
    }

    static func confirmed(_ e: Envelope, _ db: PostgresConnection, emit: (Envelope) throws -> Void) throws {
        guard let order = try transition(db, try Payload(e).uuid("orderId"), from: [.confirming], to: .completed) else { return }
        try emit(outcome(SagaTopic.orderCompleted, for: order, reason: nil))
    }
}
