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
        /// Catalog calls allowed per window, and categories calls (Bamboo: 2 per hour each); more get 429.
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
        var id: Int, name: String, brand: String, country: String, currency: String, categories: [Int]
        var minFace: Double, maxFace: Double, count: Int
    }

    /// The two rate-limited endpoints.
    enum Listing: String, Sendable, CaseIterable { case catalog, categories }

    /// What a call to a listing gets.
    enum ListingAnswer: Equatable {
        case serve
        /// 429, "wait for N seconds".
        case wait(seconds: Int)
        /// 500.
        case fail
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
    private var listingCalls: [Listing: [ContinuousClock.Instant]] = [:]
    /// Listing calls answered 200, by listing.
    private(set) var served: [Listing: Int] = [:]
    /// The next call of a listing is answered 429 with this wait (a test's knob).
    var refuseNext: [Listing: Int] = [:]
    /// Listings that answer 500 until told otherwise.
    var failing: Set<Listing> = []
    private var nextOrderId = 100_000
    private var random = SystemRandomNumberGenerator()

    var categories: [(id: Int, name: String)] = [(1, "Shopping"), (2, "Entertainment"), (3, "Food & Drink")]
    /// The catalog, by product id; `POST /sim/catalog` changes it.
    var products: [Int: Product] = Dictionary(uniqueKeysWithValues: [
        Product(id: 1001, name: "Amazon.com US", brand: "Amazon", country: "US", currency: "USD", categories: [1], minFace: 5, maxFace: 500, count: 1000),
        Product(id: 1002, name: "Target US", brand: "Target", country: "US", currency: "USD", categories: [1], minFace: 10, maxFace: 300, count: 1000),
        Product(id: 2001, name: "Netflix US", brand: "Netflix", country: "US", currency: "USD", categories: [2], minFace: 15, maxFace: 100, count: 1000),
        Product(id: 2002, name: "Spotify US", brand: "Spotify", country: "US", currency: "USD", categories: [2], minFace: 10, maxFace: 60, count: 1000),
        Product(id: 3001, name: "Starbucks US", brand: "Starbucks", country: "US", currency: "USD", categories: [3], minFace: 5, maxFace: 100, count: 1000),
        Product(id: 3002, name: "Uber Eats US", brand: "Uber Eats", country: "US", currency: "USD", categories: [3, 1], minFace: 15, maxFace: 200, count: 1000),
    ].map { ($0.id, $0) })

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

    /// Counts a call of a listing and says how to answer it: a test's refusal or failure first, then the
    /// limit of the window (a refused call is not counted).
    func listingCall(_ listing: Listing) -> ListingAnswer {
        if let wait = refuseNext.removeValue(forKey: listing) { return .wait(seconds: wait) }
        if failing.contains(listing) { return .fail }
        let now = ContinuousClock.now
        var calls = listingCalls[listing, default: []].filter { now - $0 < settings.catalogWindow }
        defer { listingCalls[listing] = calls }
        guard calls.count < settings.catalogLimit else {
            let wait = calls.first.map { settings.catalogWindow - (now - $0) } ?? settings.catalogWindow
            return .wait(seconds: max(1, Int(wait.components.seconds) + 1))
        }
        calls.append(now)
        served[listing, default: 0] += 1
        return .serve
    }

    func update(_ change: (inout Settings) -> Void) { change(&settings) }

    func refuse(_ listing: Listing, seconds: Int) { refuseNext[listing] = seconds }

    func setFailing(_ listings: Set<Listing>) { failing = listings }

    func remove(_ id: Int) { products[id] = nil }

    /// Adds a product, or changes the fields `json` gives of a known one.
    func upsert(id: Int, _ json: JSONValue) {
        func text(_ key: String) -> String? { if case .string(let s)? = json[key] { s } else { nil } }
        func number(_ key: String) -> Double? { if case .number(let n)? = json[key] { n } else { nil } }
        var p = products[id] ?? Product(id: id, name: "Product \(id)", brand: "Brand \(id)", country: "US", currency: "USD", categories: [1],
                                        minFace: 5, maxFace: 100, count: 100)
        if let v = text("name") { p.name = v }
        if let v = text("brand") { p.brand = v }
        if let v = text("country") { p.country = v }
        if let v = text("currency") { p.currency = v }
        if let v = number("minFace") { p.minFace = v }
        if let v = number("maxFace") { p.maxFace = v }
        if let v = number("count"), let n = Int(exactly: v) { p.count = n }
        if case .array(let ids)? = json["categories"] { p.categories = ids.compactMap { if case .number(let n) = $0 { Int(exactly: n) } else { nil } } }
        products[id] = p
    }

    /// Replaces the catalog with `count` made-up products, 20 a brand.
    func generate(_ count: Int) {
        products = Dictionary(uniqueKeysWithValues: (0..<count).map { i in
            let id = 100_000 + i, brand = "Brand \(i / 20)"
            return (id, Product(id: id, name: "\(brand) card \(i % 20)", brand: brand, country: "US", currency: "USD",
                                categories: [1 + (i / 20) % 3], minFace: 5, maxFace: Double(50 + i % 20 * 10), count: 100))
        })
    }

    func countCheckout() { checkouts += 1 }
}
