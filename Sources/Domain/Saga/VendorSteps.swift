import ActorRuntime
import Bridges
import Foundation
import Logging

/// The saga's vendor steps: place the order (Bamboo checkout) through a circuit breaker with a few quick
/// retries, then poll it with backoff until the vendor says it succeeded or failed. The calls run in the
/// consumer's prepare step, outside the transaction; the handlers record what they returned.
///
/// The order is placed on `payment.debited` itself (the prepare step reads the order), not on a command
/// OrderQueue sends itself: that saved envelope is an outbox row, a publish, a delivery and an inbox row
/// per order. `order.vendor-place` is still handled, for orders an older build left in `placing`.
///
/// **Money rule: an ambiguous answer is resolved by asking, never by refunding blind.** A checkout's
/// `RequestId` is the order's id, so the vendor can always be asked for it. Only two things compensate
/// (refund and release) a debited order: the vendor refusing the checkout (a 4xx other than 408/429: it
/// was not placed), or the vendor saying, when asked, that it has no such order (404) or that it failed
/// it. A timeout, a 5xx, a dropped connection or an open breaker after a checkout may have gone through
/// leave the order `polling` with no vendor order id: each poll asks the vendor (with the delivery's
/// backoff) until it answers. Polling that runs out of rounds leaves the order to reconciliation.
/// Partners see a generic reason (`vendor unavailable`, `vendor rejected the order`); the vendor's own
/// words go to the log only.
public struct VendorSteps: Sendable {
    public let adapter: (any VendorAdapter)?
    public let breaker: CircuitBreaker
    /// Where the prepare step of `payment.debited` reads the order it places (nil: the node only declares
    /// topics).
    public let orders: PostgresPool?
    /// Quick tries of a checkout before the step gives up (each one counts for the breaker).
    public var placeTries = 3
    /// Rounds of polling (each round: the delivery's retries with backoff) before the order is left to
    /// reconciliation.
    public var pollRounds = 20
    public var logger = Logger(label: "troupe.vendor")
    /// Seals the cards the vendor issues before they leave the prepare step (they are stored sealed).
    public var vault: CardVault
    /// How long after a checkout without a sure answer the vendor's "no such order" is believed: a checkout
    /// still being processed at the vendor would place the order after a quick look found nothing.
    public var notFoundGrace: Duration = .seconds(120)

    /// The reasons partners see.
    public static let unavailable = "vendor unavailable"
    public static let rejected = "vendor rejected the order"

    public init(adapter: (any VendorAdapter)?, breaker: CircuitBreaker, orders: PostgresPool?, vault: CardVault = .development) {
        self.adapter = adapter
        self.breaker = breaker
        self.orders = orders
        self.vault = vault
    }

    /// Outside the transaction: the vendor call of a vendor-step envelope.
    public var prepare: EnvelopeConsumer.Prepare {
        let steps = self
        return { envelope, attempt in
            switch envelope.topic {
            case SagaTopic.debited: return try await steps.placeDebited(envelope, attempt: attempt)
            case SagaTopic.placeVendorOrder: return try await steps.place(envelope, attempt: attempt)
            case SagaTopic.pollVendorOrder: return try await steps.poll(envelope)
            default: return nil
            }
        }
    }

    /// The checkout of a just-debited order; nil when the order is no longer `debiting` (a replayed or late
    /// reply: its handler refunds a debit the saga did not use).
    func placeDebited(_ envelope: Envelope, attempt: Int = 1) async throws -> JSONValue? {
        let id = try Payload(envelope).uuid("orderId")
        guard let orders else { throw SagaViolation("payment.debited reached a node without a database") }
        guard let order = try await orders.withConnection({ db in try OrderSaga.facts(db, id) }), order.step == .debiting else { return nil }
        return try await place(id, product: order.vendorProduct, quantity: order.quantity, faceValue: order.faceValue, attempt: attempt)
    }

    func place(_ envelope: Envelope, attempt: Int = 1) async throws -> JSONValue {
        let p = Payload(envelope)
        return try await place(try p.uuid("orderId"), product: try p.string("vendorProductId"), quantity: try p.int("quantity"),
                               faceValue: try p.money("faceValue"), attempt: attempt)
    }

    /// Checks out (a few quick tries); when no try was answered for sure, asks the vendor for the order.
    /// - Returns: `placed: true` with the vendor's order id (and a first poll); `placed: false` with the
    ///   partner's reason (refused, or the vendor has no such order); `placed: "unknown"` when the vendor
    ///   cannot say now.
    ///
    /// A refusal (4xx) is believed only on a first delivery whose earlier tries all had sure answers: after a
    /// try that may have gone through (or on a redelivery), a refusal may be about a repeat of a placed
    /// order, so the vendor is asked instead. A "no such order" is believed at once only when no checkout of
    /// this order can have been sent (the breaker refused every try of a first delivery); else the order
    /// polls, and the polls believe it after ``notFoundGrace``.
    func place(_ order: UUID, product: String, quantity: Int, faceValue face: Decimal, attempt: Int = 1) async throws -> JSONValue {
        guard let adapter else {
            logger.error("no vendor configured (topology.json: vendor)", metadata: ["order": "\(order.lowercasedString)"])
            return Self.notPlaced(Self.unavailable)
        }
        let request = order.lowercasedString
        var delay = Duration.milliseconds(100)
        var why = ""
        var uncertain = attempt > 1                             // an earlier delivery may have checked out
        for tries in 1...max(1, placeTries) {
            do {
                let vendorOrder = try await breaker.run {
                    try await adapter.placeOrder(requestId: request, productId: product, quantity: quantity, faceValue: face)
                }
                // A first look at once: a vendor that is done already saves the order a round through the
                // broker (an error here just means polling as usual).
                let polled = try? await poll(order)
                return .object(["placed": .bool(true), "vendorOrderId": .string(vendorOrder), "polled": polled ?? .null])
            } catch let error as VendorError where error.disposition == .permanent {
                logger.warning("the vendor refused a checkout", metadata: ["order": "\(request)", "reason": "\(error)"])
                guard uncertain else { return Self.notPlaced(Self.rejected) }
                why = "\(error)"                                 // maybe about a repeat of a placed order: ask
                break
            } catch let open as CircuitBreaker.OpenError {
                why = open.description
                break                                          // the breaker refuses every try now
            } catch {
                why = "\(error)"                                 // may have been placed: ask below
                uncertain = true
                guard tries < placeTries else { break }
                try await Task.sleep(for: delay)
                delay *= 2
            }
        }
        logger.warning("no sure answer to a checkout; asking the vendor for the order", metadata: ["order": "\(request)", "reason": "\(why)"])
        return await lookUp(order, adapter, nothingSent: !uncertain)
    }

    /// What the vendor says of `order` after a checkout without a sure answer; its "no such order" is
    /// believed at once only when `nothingSent`.
    private func lookUp(_ order: UUID, _ adapter: any VendorAdapter, nothingSent: Bool) async -> JSONValue {
        let state: VendorOrderState
        do {
            state = try await adapter.order(requestId: order.lowercasedString)
        } catch {
            logger.warning("the vendor cannot say now whether it has the order; it waits, polling", metadata: [
                "order": "\(order.lowercasedString)", "reason": "\(error)"])
            return .object(["placed": .string("unknown")])
        }
        switch state {
        case .notFound where nothingSent: return Self.notPlaced(Self.unavailable)
        case .notFound: return .object(["placed": .string("unknown")])
        case .failed(let reason):
            logger.warning("the vendor failed the order", metadata: ["order": "\(order.lowercasedString)", "reason": "\(reason)"])
            return Self.notPlaced(Self.rejected)
        case .processing, .succeeded:
            return .object(["placed": .bool(true), "vendorOrderId": .string(order.lowercasedString), "polled": (try? answer(state, order: order)) ?? .null])
        }
    }

    static func notPlaced(_ reason: String) -> JSONValue { .object(["placed": .bool(false), "reason": .string(reason)]) }

    func poll(_ envelope: Envelope) async throws -> JSONValue {
        try await poll(try Payload(envelope).uuid("orderId"))
    }

    func poll(_ order: UUID) async throws -> JSONValue {
        guard let adapter else { throw VendorError("no vendor configured") }
        let state = try await adapter.order(requestId: order.lowercasedString)          // errors: transient, retried
        if case .failed(let reason) = state {
            logger.warning("the vendor failed the order", metadata: ["order": "\(order.lowercasedString)", "reason": "\(reason)"])
        }
        return try answer(state, order: order)
    }

    /// A poll's answer as the handler reads it: the cards sealed (``CardVault``), the vendor's own failure
    /// reason left in the log.
    func answer(_ state: VendorOrderState, order: UUID) throws -> JSONValue {
        switch state {
        case .processing: .object(["state": .string("processing")])
        case .succeeded(let cards): .object(["state": .string("succeeded"), "cards": try vault.seal(cards, order: order)])
        case .failed: .object(["state": .string("failed")])
        case .notFound: .object(["state": .string("missing")])
        }
    }

    // MARK: in the transaction

    /// The checkout's outcome for an order in `step` (`debiting` on `payment.debited`, `placing` on
    /// `order.vendor-place`): the first poll's answer when the vendor was done at once, else poll it;
    /// poll it also when the vendor could not say whether it has it; or compensate (refund, release)
    /// towards `Failed` when the vendor refused it or has no such order.
    static func placed(_ e: Envelope, _ context: DeliveryContext, from step: OrderSaga.Step) throws {
        let id = try Payload(e).uuid("orderId")
        guard let result = context.prepared else {
            // The prepare step found the order moved on: a late or replayed debit.
            if step == .debiting { return try OrderSaga.refundUnusedDebit(e, context) }
            throw SagaViolation("\(e.topic) for \(id.lowercasedString) without a vendor answer")
        }
        if result["placed"] == .string("unknown") {
            // No vendor order id yet: the polls ask the vendor whether it has the order.
            guard let order = try OrderSaga.transition(context.db, id, from: [step], to: .polling, set: "vendor_request_id = $2, checkout_at = now()",
                                                       [id.lowercasedString]) else { return try OrderSaga.refundUnusedDebit(e, context) }
            return try context.emit(OrderSaga.command(SagaTopic.pollVendorOrder, for: order, ["round": .number(1)]))
        }
        if result["placed"] == .bool(true), case .string(let vendorOrder)? = result["vendorOrderId"] {
            let polled = result["polled"], state = polled.flatMap { if case .string(let s)? = $0["state"] { s } else { nil } }
            if state == "succeeded", let polled {
                // Done at once: straight to confirming, in one update.
                guard let order = try OrderSaga.transition(context.db, id, from: [step], to: .confirming,
                                                           set: "vendor_request_id = $2, vendor_order_id = $3, cards = $4",
                                                           [id.lowercasedString, vendorOrder, polled["cards"] ?? .array([])]) else {
                    return try OrderSaga.refundUnusedDebit(e, context)
                }
                return try context.emit(OrderSaga.command(SagaTopic.confirm, for: order, [:]))
            }
            guard let order = try OrderSaga.transition(context.db, id, from: [step], to: .polling,
                                                       set: "vendor_request_id = $2, vendor_order_id = $3", [id.lowercasedString, vendorOrder]) else {
                return try OrderSaga.refundUnusedDebit(e, context)
            }
            if let polled, let state, state == "succeeded" || state == "failed" {
                try settle(id, state: state, polled, context)
            } else {
                try context.emit(OrderSaga.command(SagaTopic.pollVendorOrder, for: order, ["round": .number(1)]))
            }
        } else {
            let reason = result["reason"].flatMap { if case .string(let s) = $0 { s } else { nil } } ?? unavailable
            try OrderSaga.compensate(context, id, from: [step], reason: reason, refund: true)
        }
    }

    /// The poll's outcome: confirm the reservation, compensate, or poll again later (the retry queue's
    /// backoff; a fresh round when a round's attempts are used up). An order whose placement was never
    /// confirmed and that the vendor does not have is compensated; polling that runs out of rounds leaves
    /// the order as it is, for reconciliation: a refund while the vendor may still issue the cards would
    /// give them away.
    static func polled(_ e: Envelope, _ context: DeliveryContext, rounds: Int, notFoundGrace: Duration = .seconds(120)) throws {
        let p = Payload(e)
        let id = try p.uuid("orderId"), round = (try? p.int("round")) ?? 1
        guard let result = context.prepared, case .string(let state)? = result["state"] else {
            throw SagaViolation("order.vendor-poll for \(id.lowercasedString) without a vendor answer")
        }
        switch state {
        case "succeeded", "failed":
            try settle(id, state: state, result, context)
        case "missing" where try placementUnconfirmed(id, context.db, grace: notFoundGrace):
            try OrderSaga.compensate(context, id, from: [.polling], reason: unavailable, refund: true)
        default:
            if context.attempt < context.maxAttempts { throw TransientError(VendorError("order \(id.lowercasedString) still \(state)")) }
            guard let order = try OrderSaga.facts(context.db, id), order.step == .polling else { return }
            if round < rounds {
                // The order moves (for reconciliation, which would otherwise start a second chain of polls).
                try context.db.query("UPDATE orders SET updated_at = now() WHERE id = $1 AND step = 'polling'", [id])
                try context.emit(OrderSaga.command(SagaTopic.pollVendorOrder, for: order, ["round": .number(Double(round + 1))]))
            }
            // Out of rounds: the order stays `polling`, and reconciliation asks the vendor again later.
        }
    }

    /// Whether the order never had a vendor order id (its checkout had no sure answer) and that checkout
    /// ended at least `grace` ago.
    private static func placementUnconfirmed(_ id: UUID, _ db: PostgresConnection, grace: Duration) throws -> Bool {
        try db.query("""
            SELECT vendor_order_id IS NULL AND COALESCE(checkout_at, updated_at) < now() - make_interval(secs => $2) AS unconfirmed
            FROM orders WHERE id = $1 AND step = 'polling'
            """, [id, grace.inSeconds]).rows.first?.decode("unconfirmed", as: Bool.self) ?? false
    }

    /// A polling order the vendor finished: confirm the reservation with its cards, or compensate.
    private static func settle(_ id: UUID, state: String, _ result: JSONValue, _ context: DeliveryContext) throws {
        if state == "succeeded" {
            let cards = result["cards"] ?? .array([])
            guard let order = try OrderSaga.transition(context.db, id, from: [.polling], to: .confirming, set: "cards = $2", [cards]) else { return }
            try context.emit(OrderSaga.command(SagaTopic.confirm, for: order, [:]))
        } else {
            try OrderSaga.compensate(context, id, from: [.polling], reason: rejected, refund: true)
        }
    }
}
