import ActorRuntime
import Foundation

/// The simulated vendor's memory: its catalog, the orders placed (idempotent on RequestId), and the
/// knobs tests and the demo turn (latency, failure rate, processing time, catalog rate limit).
actor SimulatorState {
    struct Settings: Sendable {
        var latency: Duration = .zero
        /// Fraction of checkouts answered with a 500.
        var failureRate = 0.0
        /// How long an order stays `Processing` before it `Succeeded`.
        var processing: Duration = .zero
        /// Catalog and categories calls allowed per window (Bamboo: 2 per hour); more get 429.
        var catalogLimit = 2
        var catalogWindow: Duration = .seconds(3600)
        /// What a checkout does after it placed the order: the ambiguous answers a client must resolve by
        /// asking for the order (nil: answer 200 at once).
        var acceptThen: AcceptThen?
        /// With `acceptThen == .timeout`: how long the answer takes (set it past the client's timeout).
        var acceptDelay: Duration = .seconds(30)
    }

    /// How a checkout that placed its order answers anyway.
    enum AcceptThen: String, Sendable {
        /// Answers 200, after ``Settings/acceptDelay``.
        case timeout
        /// Answers 500.
        case error
        /// Sends part of a 200 and closes the connection.
        case drop
    }

    struct Product: Sendable {
        let id: Int, name: String, brand: String, country: String, currency: String, category: Int
        let minFace: Double, maxFace: Double, count: Int
    }

    struct PlacedOrder: Sendable {
        let orderId: Int
        let requestId: String
        let productId: Int
        let quantity: Int
        let value: Double
        let placedAt: ContinuousClock.Instant
    }

    var settings: Settings
    private(set) var orders: [String: PlacedOrder] = [:]
    /// Checkout calls received (placed, repeated or failed).
    private(set) var checkouts = 0
    private var catalogCalls: [ContinuousClock.Instant] = []
    private var nextOrderId = 100_000
    private var random = SystemRandomNumberGenerator()

    let categories: [(id: Int, name: String)] = [(1, "Shopping"), (2, "Entertainment"), (3, "Food & Drink")]
    let products: [Product] = [
        Product(id: 1001, name: "Amazon.com US", brand: "Amazon", country: "US", currency: "USD", category: 1, minFace: 5, maxFace: 500, count: 1000),
        Product(id: 1002, name: "Target US", brand: "Target", country: "US", currency: "USD", category: 1, minFace: 10, maxFace: 300, count: 1000),
        Product(id: 2001, name: "Netflix US", brand: "Netflix", country: "US", currency: "USD", category: 2, minFace: 15, maxFace: 100, count: 1000),
        Product(id: 2002, name: "Spotify US", brand: "Spotify", country: "US", currency: "USD", category: 2, minFace: 10, maxFace: 60, count: 1000),
        Product(id: 3001, name: "Starbucks US", brand: "Starbucks", country: "US", currency: "USD", category: 3, minFace: 5, maxFace: 100, count: 1000),
        Product(id: 3002, name: "Uber Eats US", brand: "Uber Eats", country: "US", currency: "USD", category: 3, minFace: 15, maxFace: 200, count: 1000),
    ]

    init(settings: Settings) { self.settings = settings }

    /// Whether this checkout fails (per the failure rate).
    func rollFailure() -> Bool {
        settings.failureRate > 0 && Double.random(in: 0..<1, using: &random) < settings.failureRate
    }

    /// Places an order, or returns the one already placed under `requestId`.
    func place(requestId: String, productId: Int, quantity: Int, value: Double) -> PlacedOrder {
        if let existing = orders[requestId] { return existing }
        nextOrderId += 1
        let order = PlacedOrder(orderId: nextOrderId, requestId: requestId, productId: productId, quantity: quantity, value: value,
                                placedAt: .now)
        orders[requestId] = order
        return order
    }

    func order(_ requestId: String) -> PlacedOrder? { orders[requestId] }

    /// Counts a catalog call; returns the seconds to wait when over the limit.
    func catalogCall() -> Int? {
        let now = ContinuousClock.now
        catalogCalls = catalogCalls.filter { now - $0 < settings.catalogWindow }
        guard catalogCalls.count < settings.catalogLimit else {
            let wait = settings.catalogWindow - (now - catalogCalls[0])
            return max(1, Int(wait.components.seconds) + 1)
        }
        catalogCalls.append(now)
        return nil
    }

    func update(_ change: (inout Settings) -> Void) { change(&settings) }

    func countCheckout() { checkouts += 1 }
}
