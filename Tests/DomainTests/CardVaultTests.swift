import ActorRuntime
import Bridges
@testable import Domain
import Foundation
import Testing

/// Issue 16 §6: card codes and PINs are sealed at rest (AES-256-GCM, bound to their order); orders stored
/// before are sealed once.
@Suite struct CardVaultTests {
    let cards: JSONValue = .array([.object(["CardCode": .string("CODE-1"), "Pin": .string("0042")])])

    @Test func sealedCardsOpenOnlyForTheirOrderAndWithTheirKey() throws {
        let vault = try CardVault(key: Array(repeating: 7, count: 32)), order = UUID.v7()
        let sealed = try vault.seal(cards, order: order)
        #expect(!String(decoding: sealed.jsonBytes, as: UTF8.self).contains("CODE-1"))
        #expect(try vault.open(sealed, order: order) == cards)
        #expect(throws: (any Error).self, "another order's id does not open it") { try vault.open(sealed, order: UUID.v7()) }
        #expect(throws: (any Error).self, "another key does not open it") { try CardVault.development.open(sealed, order: order) }
        #expect(try vault.open(cards, order: order) == cards, "cards stored before sealing come back as they are")
        #expect(throws: CardVault.KeyError.self) { try CardVault(key: [1, 2, 3]) }
        #expect(throws: CardVault.KeyError.self) { try CardVault(base64: "not base64!") }
    }

    @Test func ordersStoredWithPlainCardsAreSealedOnce() async throws {
        let db = try await DomainDatabase()
        let vault = try CardVault(key: Array(repeating: 9, count: 32))
        let order = try await db.order(step: "completed", idleSeconds: 0)
        try await db.pool.withConnection { try $0.query("UPDATE orders SET cards = $2 WHERE id = $1", [order, cards]) }
        #expect(try await vault.sealStoredCards(pool: db.pool) == 1)
        #expect(try await vault.sealStoredCards(pool: db.pool) == 0, "once")
        let stored = try await db.pool.withConnection { try $0.query("SELECT cards FROM orders WHERE id = $1", [order]).rows[0].decode("cards", as: JSONValue.self) }
        #expect(!String(decoding: stored.jsonBytes, as: UTF8.self).contains("CODE-1"))
        #expect(try vault.open(stored, order: order) == cards)
        await db.drop()
    }
}
