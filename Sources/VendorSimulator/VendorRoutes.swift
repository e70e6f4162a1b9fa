import ActorRuntime
import Foundation
import Hummingbird

/// The simulator's HTTP endpoints, in Bamboo's shapes.
struct VendorRoutes: Sendable {
    let state: SimulatorState
    /// The `authorization` header every vendor call must carry.
    let authorization: String

    func add(to router: Router<BasicRequestContext>) {
        router.post("/api/integration/v2.0/orders/checkout") { request, _ in try await checkout(request) }
        router.get("/api/integration/v1.0/orders/:requestId") { request, context in
            try await vendor(request) { try await order(context.parameters.get("requestId") ?? "") }
        }
        router.get("/api/integration/v1.0/catalog") { request, _ in try await vendor(request) { try await catalog() } }
        router.get("/api/integration/v2.0/categories") { request, _ in try await vendor(request) { try await categories() } }
        router.post("/sim/config") { request, _ in try await configure(request) }
        router.post("/sim/catalog") { request, _ in try await changeCatalog(request) }
        router.get("/sim/stats") { _, _ in
            let served = await state.served
            return reply(.ok, .object(["checkouts": .number(Double(await state.checkouts)),
                                       "catalogCalls": .number(Double(served[.catalog] ?? 0)),
                                       "categoriesCalls": .number(Double(served[.categories] ?? 0))]))
        }
        router.get("/sim/orders") { _, _ in
            let orders = await state.orders.values.sorted { $0.orderId < $1.orderId }
            return reply(.ok, .array(orders.map { .object(["requestId": .string($0.requestId), "orderId": .number(Double($0.orderId))]) }))
        }
    }

    func reply(_ status: HTTPResponse.Status, _ value: JSONValue) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: value.jsonBytes)))
    }

    /// Checks Basic auth and applies the latency, then answers.
    func vendor(_ request: Request, _ answer: () async throws -> Response) async throws -> Response {
        guard request.headers[.authorization] == authorization else {
            return reply(.unauthorized, .object(["message": .string("invalid client credentials")]))
        }
        let latency = await state.settings.latency
        if latency > .zero { try await Task.sleep(for: latency) }
        return try await answer()
    }

    func checkout(_ request: Request) async throws -> Response {
        let body = try await request.body.collect(upTo: 1 << 20)
        return try await vendor(request) {
            guard let input = try? JSONValue(parsing: Array(buffer: body)), case .string(let requestId)? = input["RequestId"], !requestId.isEmpty,
                  case .array(let products)? = input["Products"], let first = products.first,
                  case .number(let productId)? = first["ProductId"], case .number(let quantity)? = first["Quantity"],
                  case .number(let value)? = first["Value"] else {
                return reply(.badRequest, .object(["message": .string("RequestId and Products[0].ProductId/Quantity/Value are required")]))
            }
            guard let productId = Int(exactly: productId), let quantity = Int(exactly: quantity), quantity > 0 else {
                return reply(.badRequest, .object(["message": .string("ProductId and Quantity must be whole numbers")]))
            }
            guard await state.products[productId] != nil else {
                return reply(.badRequest, .object(["message": .string("unknown ProductId \(productId)")]))
            }
            await state.countCheckout()
            if await state.order(requestId) == nil, await state.rollFailure() {
                return reply(.internalServerError, .object(["message": .string("simulated vendor failure")]))
            }
            let placed = await state.place(requestId: requestId, productId: productId, quantity: quantity, value: value)
            let answer = reply(.ok, .object(["RequestId": .string(placed.requestId), "OrderId": .number(Double(placed.orderId))]))
            switch await state.settings.acceptThen {
            case nil:
                return answer
            case .timeout?:
                try await Task.sleep(for: await state.settings.acceptDelay)
                return answer
            case .error?:
                return reply(.internalServerError, .object(["message": .string("simulated failure after placing the order")]))
            case .drop?:
                // Headers and a first byte of a 200, then the connection closes mid-body.
                return Response(status: .ok, headers: [.contentType: "application/json", .contentLength: "64"], body: ResponseBody(contentLength: 64) { writer in
                    try await writer.write(ByteBuffer(string: "{"))
                    throw SimulatedDrop()
                })
            }
        }
    }

    func order(_ requestId: String) async throws -> Response {
        guard let placed = await state.order(requestId) else {
            return reply(.notFound, .object(["message": .string("no order with RequestId \(requestId)")]))
        }
        let processing = await state.settings.processing
        let done = ContinuousClock.now - placed.placedAt >= processing
        var items: [String: JSONValue] = ["ProductId": .number(Double(placed.productId)), "Quantity": .number(Double(placed.quantity)),
                                          "ProductFaceValue": .number(placed.value)]
        if done { items["Cards"] = .array((0..<placed.quantity).map { card(placed, $0) }) }
        return reply(.ok, .object([
            "OrderId": .number(Double(placed.orderId)), "RequestId": .string(requestId),
            "Status": .string(done ? "Succeeded" : "Processing"), "Items": .array([.object(items)]),
        ]))
    }

    /// The `i`-th card of an order: made up, but stable for the order.
    func card(_ placed: SimulatorState.PlacedOrder, _ i: Int) -> JSONValue {
        let id = placed.orderId * 100 + i
        let fields: [String: JSONValue] = [
            "Id": .number(Double(id)), "SerialNumber": .string("SN-\(id)"), "CardCode": .string("CODE-\(placed.orderId)-\(i)"),
            "Pin": .string(String(format: "%04d", id % 10_000)), "ExpirationDate": .string("2030-12-31T00:00:00Z"),
        ]
        return .object(fields)
    }

    /// A listing's answer when it is not served: Bamboo's 429 text, or a 500.
    func refusal(_ listing: SimulatorState.Listing) async -> Response? {
        switch await state.listingCall(listing) {
        case .serve: return nil
        case .wait(let seconds): return reply(.tooManyRequests, .object(["message": .string("Too many requests, please wait for \(seconds) seconds")]))
        case .fail: return reply(.internalServerError, .object(["message": .string("simulated \(listing.rawValue) failure")]))
        }
    }

    func catalog() async throws -> Response {
        if let refused = await refusal(.catalog) { return refused }
        let products = await state.products.values.sorted { $0.id < $1.id }
        let brands = Dictionary(grouping: products, by: \.brand).sorted { $0.key < $1.key }.map { brandJSON($0.key, $0.value) }
        return reply(.ok, .object(["Brands": .array(brands)]))
    }

    func brandJSON(_ brand: String, _ items: [SimulatorState.Product]) -> JSONValue {
        let products: [JSONValue] = items.map { p in
            let fields: [String: JSONValue] = ["Id": .number(Double(p.id)), "Name": .string(p.name), "MinFaceValue": .number(p.minFace),
                                               "MaxFaceValue": .number(p.maxFace), "Count": .number(Double(p.count))]
            return .object(fields)
        }
        let fields: [String: JSONValue] = ["InternalId": .string("brand-\(brand.lowercased().filter { $0.isLetter || $0.isNumber })"),
                                           "Name": .string(brand), "CountryCode": .string(items[0].country), "CurrencyCode": .string(items[0].currency),
                                           "Categories": .array(items[0].categories.map { .number(Double($0)) }), "Products": .array(products)]
        return .object(fields)
    }

    func categories() async throws -> Response {
        if let refused = await refusal(.categories) { return refused }
        return reply(.ok, .array(await state.categories.map { .object(["Id": .number(Double($0.id)), "Name": .string($0.name)]) }))
    }

    /// `{"upsert": [{"id": 4001, "name": "...", "brand": "...", "country": "US", "currency": "USD", "categories": [1],
    /// "minFace": 5, "maxFace": 100, "count": 10}], "remove": [2002], "generate": 10000, "refuseNext": {"catalog": 120},
    /// "failing": ["categories"]}`: any subset. An upsert of a known id changes only the fields given; `generate`
    /// replaces the catalog with that many made-up products (for benchmarks); `refuseNext` answers the next
    /// call of a listing 429 "wait for N seconds"; `failing` lists the listings that answer 500 (`[]` heals them).
    func changeCatalog(_ request: Request) async throws -> Response {
        let body = try await request.body.collect(upTo: 16 << 20)
        guard let input = try? JSONValue(parsing: Array(buffer: body)), case .object(let o) = input else {
            return reply(.badRequest, .object(["message": .string("a JSON object is required")]))
        }
        if case .number(let n)? = o["generate"] {
            guard let count = Int(exactly: n), (1...1_000_000).contains(count) else {
                return reply(.badRequest, .object(["message": .string("generate: must be a whole number from 1 to 1000000")]))
            }
            await state.generate(count)
        }
        if case .array(let items)? = o["upsert"] {
            for item in items {
                guard case .number(let n)? = item["id"], let id = Int(exactly: n) else {
                    return reply(.badRequest, .object(["message": .string("upsert: every product needs a whole-number id")]))
                }
                await state.upsert(id: id, item)
            }
        }
        if case .array(let ids)? = o["remove"] {
            for case .number(let n) in ids { if let id = Int(exactly: n) { await state.remove(id) } }
        }
        if case .object(let refuse)? = o["refuseNext"] {
            for (key, value) in refuse {
                guard let listing = SimulatorState.Listing(rawValue: key), case .number(let seconds) = value, let s = Int(exactly: seconds), s > 0 else {
                    return reply(.badRequest, .object(["message": .string("refuseNext: {\"catalog\"|\"categories\": seconds}")]))
                }
                await state.refuse(listing, seconds: s)
            }
        }
        if case .array(let names)? = o["failing"] {
            let listings = names.compactMap { if case .string(let s) = $0 { SimulatorState.Listing(rawValue: s) } else { nil } }
            await state.setFailing(Set(listings))
        }
        return reply(.ok, .object(["products": .number(Double(await state.products.count))]))
    }

    /// `{"failureRate": 0.5, "latencyMs": 20, "processingMs": 100, "catalogLimit": 10, "acceptThen": "timeout",
    /// "acceptDelayMs": 3000}`: any subset; `"acceptThen": null` answers checkouts normally again.
    func configure(_ request: Request) async throws -> Response {
        let body = try await request.body.collect(upTo: 1 << 16)
        guard let input = try? JSONValue(parsing: Array(buffer: body)), case .object(let o) = input else {
            return reply(.badRequest, .object(["message": .string("a JSON object is required")]))
        }
        if case .number(let r)? = o["failureRate"] {
            guard (0...1).contains(r) else { return reply(.badRequest, .object(["message": .string("failureRate: must be from 0 to 1")])) }
            await state.update { $0.failureRate = r }
        }
        if case .number(let ms)? = o["latencyMs"] { await state.update { $0.latency = .milliseconds(Int(max(0, ms))) } }
        if case .number(let ms)? = o["processingMs"] { await state.update { $0.processing = .milliseconds(Int(max(0, ms))) } }
        if case .number(let n)? = o["catalogLimit"] { await state.update { $0.catalogLimit = Int(min(max(0, n), 1e9)) } }
        switch o["acceptThen"] {
        case nil: break
        case .null?: await state.update { $0.acceptThen = nil }
        case .string(let mode)?:
            guard let mode = SimulatorState.AcceptThen(rawValue: mode) else {
                return reply(.badRequest, .object(["message": .string("acceptThen: must be timeout, error, drop or null")]))
            }
            await state.update { $0.acceptThen = mode }
        default: return reply(.badRequest, .object(["message": .string("acceptThen: must be timeout, error, drop or null")]))
        }
        if case .number(let ms)? = o["acceptDelayMs"] { await state.update { $0.acceptDelay = .milliseconds(Int(min(max(0, ms), 1e9))) } }
        return reply(.ok, .object(["ok": .bool(true)]))
    }
}

/// Ends a response mid-body, so the connection closes under the client (the `drop` mode).
struct SimulatedDrop: Error {}
