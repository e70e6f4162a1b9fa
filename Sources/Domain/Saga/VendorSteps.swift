import ActorRuntime
import Bridges
import Foundation

/// The saga's vendor steps: place the order (Bamboo checkout) through a circuit breaker with a few quick
/// retries, then poll it with backoff until the vendor says it succeeded or failed. The calls run in the
/// consumer's prepare step, outside the transaction; the handlers record what they returned.
///
/// The order is placed on `payment.debited` itself (the prepare step reads the order), not on a command
/// OrderQueue sends itself: that saved envelope is an outbox row, a publish, a delivery and an inbox row
/// per order. `order.vendor-place` is still handled, for orders an older build left in `placing`.
public struct VendorSteps: Sendable {
    public let adapter: (any VendorAdapter)?
    public let breaker: CircuitBreaker
    /// Where the prepare step of `payment.debited` reads the order it places (nil: the node only declares
    /// topics).
    public let orders: PostgresPool?
    /// Quick tries of a checkout before the step gives up (each one counts for the breaker).
    public var placeTries = 3
    /// Rounds of polling (each round: the delivery's retries with backoff) before the order is given up.
    public var pollRounds = 20

    public init(adapter: (any VendorAdapter)?, breaker: CircuitBreaker, orders: PostgresPool?) {
        self.adapter = adapter
        self.breaker = breaker
        self.orders = orders
    }

    /// Outside the transaction: the vendor call of a vendor-step envelope.
    public var prepare: EnvelopeConsumer.Prepare {
        let steps = self
        return { envelope, _ in
            switch envelope.topic {
            case SagaTopic.debited: return try await steps.placeDebited(envelope)
            case SagaTopic.placeVendorOrder: return try await steps.place(envelope)
            case SagaTopic.pollVendorOrder: return try await steps.poll(envelope)
            default: return nil
            }
        }
    }

    /// The checkout of a just-debited order; nil when the order is no longer `debiting` (a replayed reply:
    /// its handler changes nothing).
    func placeDebited(_ envelope: Envelope) async throws -> JSONValue? {
        let id = try Payload(envelope).uuid("orderId")
        guard let orders else { throw SagaViolation("payment.debited reached a node without a database") }
        guard let order = try await orders.withConnection({ db in try OrderSaga.facts(db, id) }), order.step == .debiting else { return nil }
        return try await place(id, product: order.vendorProduct, quantity: order.quantity, faceValue: order.faceValue)
    }

    func place(_ envelope: Envelope) async throws -> JSONValue {
        let p = Payload(envelope)
        return try await place(try p.uuid("orderId"), product: try p.string("vendorProductId"), quantity: try p.int("quantity"),
                               faceValue: try p.money("faceValue"))
    }

    func place(_ order: UUID, product: String, quantity: Int, faceValue face: Decimal) async throws -> JSONValue {
        guard let adapter else { return .object(["placed": .bool(false), "reason": .string("no vendor configured (topology.json: vendor)")]) }
        do {
            var delay = Duration.milliseconds(100)
            var tries = 0
            while true {
                tries += 1
                do {
                    let vendorOrder = try await breaker.run {
                        try await adapter.placeOrder(requestId: order.lowercasedString, productId: product, quantity: quantity, faceValue: face)
                    }
                    // A first look at once: a vendor that is done already saves the order a round through the
                    // broker (an error here just means polling as usual).
                    let polled = try? await poll(order)
                    return .object(["placed": .bool(true), "vendorOrderId": .string(vendorOrder), "polled": polled ?? .null])
                } catch let error as VendorError {
                    guard error.disposition == .transient, tries < placeTries else { throw error }
                    try await Task.sleep(for: delay)
                    delay *= 2
                }
            }
        } catch let open as CircuitBreaker.OpenError {
            return .object(["placed": .bool(false), "reason": .string("vendor unavailable (\(open.description))")])
        } catch let error as VendorError {
            return .object(["placed": .bool(false), "reason": .string("vendor failure: \(error.description)")])
        }
    }

    func poll(_ envelope: Envelope) async throws -> JSONValue {
        try await poll(try Payload(envelope).uuid("orderId"))
    }

    func poll(_ order: UUID) async throws -> JSONValue {
        guard let adapter else { throw VendorError("no vendor configured") }
        switch try await adapter.order(requestId: order.lowercasedString) {          // errors: transient, retried
        case .processing: return .object(["state": .string("processing")])
        case .succeeded(let cards): return .object(["state": .string("succeeded"), "cards": cards])
        case .failed(let reason): return .object(["state": .string("failed"), "reason": .string(reason)])
        }
    }

    // MARK: in the transaction

    /// The checkout's outcome for an order in `step` (`debiting` on `payment.debited`, `placing` on
    /// `order.vendor-place`): the first poll's answer when the vendor was done at once, else poll it; or
    /// compensate (refund, release) towards `Failed`.
    static func placed(_ e: Envelope, _ context: DeliveryContext, from step: OrderSaga.Step) throws {
        let id = try Payload(e).uuid("orderId")
        guard let result = context.prepared else {
            if step == .debiting { return }                     // the prepare step found the order moved on
            throw SagaViolation("\(e.topic) for \(id.lowercasedString) without a vendor answer")
        }
        if result["placed"] == .bool(true), case .string(let vendorOrder)? = result["vendorOrderId"] {
            let polled = result["polled"], state = polled.flatMap { if case .string(let s)? = $0["state"] { s } else { nil } }
            if state == "succeeded", let polled {
                // Done at once: straight to confirming, in one update.
                guard let order = try OrderSaga.transition(context.db, id, from: [step], to: .confirming,
                                                           set: "vendor_request_id = $2, vendor_order_id = $3, cards = $4",
                                                           [id.lowercasedString, vendorOrder, polled["cards"] ?? .array([])]) else { return }
                return try context.emit(OrderSaga.command(SagaTopic.confirm, for: order, [:]))
            }
            guard let order = try OrderSaga.transition(context.db, id, from: [step], to: .polling,
                                                       set: "vendor_request_id = $2, vendor_order_id = $3", [id.lowercasedString, vendorOrder]) else { return }
            if let polled, let state, state != "processing" {
                try settle(id, state: state, polled, context)
            } else {
                try context.emit(OrderSaga.command(SagaTopic.pollVendorOrder, for: order, ["round": .number(1)]))
            }
        } else {
            let reason = result["reason"].flatMap { if case .string(let s) = $0 { s } else { nil } } ?? "vendor failure"
            try OrderSaga.compensate(context, id, from: [step], reason: reason, refund: true)
        }
    }

    /// The poll's outcome: confirm the reservation, compensate, or poll again later (the retry queue's
    /// backoff; a fresh round when a round's attempts are used up).
    static func polled(_ e: Envelope, _ context: DeliveryContext, rounds: Int) throws {
        let p = Payload(e)
        let id = try p.uuid("orderId"), round = (try? p.int("round")) ?? 1
        guard let result = context.prepared, case .string(let state)? = result["state"] else {
            throw SagaViolation("order.vendor-poll for \(id.lowercasedString) without a vendor answer")
        }
        switch state {
        case "succeeded", "failed":
            try settle(id, state: state, result, context)
        default:
            if context.attempt < context.maxAttempts { throw TransientError(VendorError("order \(id.lowercasedString) still processing")) }
            if round < rounds {
                guard let order = try OrderSaga.facts(context.db, id), order.step == .polling else { return }
                try context.emit(OrderSaga.command(SagaTopic.pollVendorOrder, for: order, ["round": .number(Double(round + 1))]))
            } else {
                try OrderSaga.compensate(context, id, from: [.polling], reason: "the vendor did not complete the order in time", refund: true)
            }
        }
    }

    /// A polling order the vendor finished: confirm the reservation with its cards, or compensate.
    private static func settle(_ id: UUID, state: String, _ result: JSONValue, _ context: DeliveryContext) throws {
        if state == "succeeded" {
            let cards = result["cards"] ?? .array([])
            guard let order = try OrderSaga.transition(context.db, id, from: [.polling], to: .confirming, set: "cards = $2", [cards]) else { return }
            try context.emit(OrderSaga.command(SagaTopic.confirm, for: order, [:]))
        } else {
            let reason = result["reason"].flatMap { if case .string(let s) = $0 { s } else { nil } } ?? "failed"
            try OrderSaga.compensate(context, id, from: [.polling], reason: "vendor failed the order: \(reason)", refund: true)
        }
    }
}
