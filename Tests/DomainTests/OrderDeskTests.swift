import ActorRuntime
import Bridges
import Domain
import Foundation
import Testing

/// The accept path (batched) and the edge's key cache, against the project's PostgreSQL (a private schema).
@Suite struct OrderDeskTests {
    static let secret = "domain-test-secret-123"

    /// A product `sku` for 5 to 100, and a partner paying 90%.
    func setUp(_ db: DomainDatabase, sku: String) async throws -> PartnerRegistry.Created {
        try await db.pool.withConnection { c in
            try c.query("INSERT INTO products (internal_id, sku, name, brand, currency, min_face_value, max_face_value) VALUES ($1, $1, 'x', 'x', 'USD', 5, 100)", [sku])
        }
        return try await PartnerRegistry(pool: db.pool, keySecret: Self.secret).add(name: "p-\(UUID())", wallet: 100, pricePercent: 90)
    }

    @Test func concurrentMixedRequestsEachGetTheirOwnAnswerAndDuplicatesCreateOne() async throws {
        let db = try await DomainDatabase()
        let partner = try await setUp(db, sku: "DESK-1")
        let desk = OrderDesk(pool: db.pool)
        enum Kind: Sendable { case fresh, duplicate, unknownSku, tooBig }
        var requests: [(Kind, OrderRequest)] = []
        for i in 0..<40 { requests.append((.fresh, OrderRequest(referenceId: "fresh-\(i)", sku: "DESK-1", faceValue: 10, quantity: 2))) }
        for _ in 0..<10 { requests.append((.duplicate, OrderRequest(referenceId: "same", sku: "DESK-1", faceValue: 20, quantity: 1))) }
        for i in 0..<5 { requests.append((.unknownSku, OrderRequest(referenceId: "nosku-\(i)", sku: "NOPE", faceValue: 10, quantity: 1))) }
        for i in 0..<5 { requests.append((.tooBig, OrderRequest(referenceId: "big-\(i)", sku: "DESK-1", faceValue: 500, quantity: 1))) }
        let answers = await withTaskGroup(of: (Kind, OrderRequest, Result<(order: Order, created: Bool), any Error>).self) { group in
            for (kind, request) in requests {
                group.addTask {
                    do { return (kind, request, .success(try await desk.accept(request, partner: partner.id, correlationId: "c-\(request.referenceId)"))) } catch {
                        return (kind, request, .failure(error))
                    }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        var sameIDs = Set<UUID>(), sameCreated = 0
        for (kind, request, result) in answers {
            switch kind {
            case .fresh:
                let (order, created) = try result.get()
                #expect(created && order.referenceId == request.referenceId && order.status == .processing)
                #expect(order.unitPrice == 9 && order.total == 18, "priced at the partner's 90%")
            case .duplicate:
                let (order, created) = try result.get()
                sameIDs.insert(order.id)
                if created { sameCreated += 1 }
            case .unknownSku:
                #expect(throws: OrderDesk.Refusal.invalid(field: "sku", message: "unknown product 'NOPE'")) { try result.get() }
            case .tooBig:
                #expect(throws: OrderDesk.Refusal.invalid(field: "faceValue", message: "must be from 5.00 to 100.00 for DESK-1")) { try result.get() }
            }
        }
        #expect(sameIDs.count == 1 && sameCreated == 1, "ten concurrent duplicates: one order, created once")

        // The same referenceId with another body is a conflict; the same body again returns the order.
        await #expect(throws: OrderDesk.Refusal.self) {
            try await desk.accept(OrderRequest(referenceId: "same", sku: "DESK-1", faceValue: 20, quantity: 3), partner: partner.id, correlationId: "c")
        }
        let again = try await desk.accept(OrderRequest(referenceId: "same", sku: "DESK-1", faceValue: 20, quantity: 1), partner: partner.id, correlationId: "c")
        #expect(again.order.id == sameIDs.first && !again.created)

        let (orders, envelopes) = try await db.pool.withConnection { c in
            (try c.query("SELECT count(*) AS n FROM orders").rows[0].decode("n", as: Int.self),
             try c.query("SELECT count(*) AS n FROM troupe_outbox WHERE topic = 'order.created'").rows[0].decode("n", as: Int.self))
        }
        #expect(orders == 41 && envelopes == 41, "one order.created per order, written with it")
        await db.drop()
    }

    @Test func theKeyCacheRemembersKnownKeysForItsTTLOnly() async throws {
        let db = try await DomainDatabase()
        let partner = try await setUp(db, sku: "DESK-2")
        let registry = PartnerRegistry(pool: db.pool, keySecret: Self.secret)
        let remembering = CallerCache(registry: registry, ttl: .seconds(3600))
        let forgetting = CallerCache(registry: registry, ttl: .zero)
        #expect(try await remembering.caller(forKey: partner.key.text)?.partnerID == partner.id)
        #expect(try await forgetting.caller(forKey: partner.key.text)?.partnerID == partner.id)
        #expect(try await remembering.caller(forKey: partner.key.text + "x") == nil)

        try await db.pool.withConnection { c in try c.query("UPDATE partner_api_keys SET revoked_at = now() WHERE partner_id = $1", [partner.id]) }
        #expect(try await forgetting.caller(forKey: partner.key.text) == nil, "past its TTL a revoked key is refused")
        #expect(try await remembering.caller(forKey: partner.key.text)?.partnerID == partner.id, "within its TTL the answer is remembered")
        await db.drop()
    }
}
