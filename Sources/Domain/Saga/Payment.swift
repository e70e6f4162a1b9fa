import ActorRuntime
import Bridges
import Foundation

/// Payment: partner wallets as a ledger. Every entry is idempotent on its key (`<order>:debit`,
/// `<order>:refund`); the balance beside the entries changes in the same transaction and never goes
/// below zero (a CHECK, and the debit's guarded UPDATE).
public enum Payment {
    public static var router: TopicRouter {
        TopicRouter(.payment, [
            SagaTopic.debit: { envelope, context in try debit(envelope, context.db, emit: context.emit) },
            SagaTopic.refund: { envelope, context in try refund(envelope, context.db, emit: context.emit) },
        ])
    }

    /// The ledger entry keys of an order's debit and refund (unique: each happens once).
    static func debitKey(_ order: UUID) -> String { "\(order.lowercasedString):debit" }
    static func refundKey(_ order: UUID) -> String { "\(order.lowercasedString):refund" }

    static func debit(_ envelope: Envelope, _ db: PostgresConnection, emit: (Envelope) throws -> Void) throws {
        let p = Payload(envelope)
        let order = try p.uuid("orderId"), partner = try p.uuid("partnerId"), amount = try p.money("amount")
        let fields: [String: JSONValue] = ["amount": Money.json(amount), "partnerId": .string(partner.lowercasedString)]
        let key = debitKey(order)
        // One statement (one round trip while the wallet row is locked): a replay changes nothing; else the
        // balance pays if it can, and the entry is written only when it did. A concurrent debit of the same
        // order fails on the entry's unique key and is retried, then finds it.
        let outcome = try db.query("""
            WITH replay AS (SELECT 1 FROM wallet_entries WHERE idempotency_key = $3),
                 paid AS (UPDATE wallets SET balance = balance - $2, updated_at = now()
                          WHERE partner_id = $1 AND balance >= $2 AND NOT EXISTS (SELECT 1 FROM replay) RETURNING 1),
                 entry AS (INSERT INTO wallet_entries (partner_id, kind, amount, idempotency_key, order_id)
                           SELECT $1, 'debit', -$2, $3, $4 FROM paid RETURNING 1)
            SELECT EXISTS (SELECT 1 FROM replay) AS replayed, EXISTS (SELECT 1 FROM entry) AS paid
            """, [partner, amount, key, order]).rows[0]
        guard try outcome.decode("replayed", as: Bool.self) || outcome.decode("paid", as: Bool.self) else {
            try emit(Payload.reply(SagaTopic.debitFailed, to: envelope, from: .payment, order: order,
                                   fields.merging(["reason": .string("insufficient funds")]) { a, _ in a }))
            return
        }
        try emit(Payload.reply(SagaTopic.debited, to: envelope, from: .payment, order: order, fields))
    }

    /// Gives a debited order's amount back (a compensation): only if it was debited, and only once.
    static func refund(_ envelope: Envelope, _ db: PostgresConnection, emit: (Envelope) throws -> Void) throws {
        let p = Payload(envelope)
        let order = try p.uuid("orderId"), partner = try p.uuid("partnerId")
        let debits = try db.query("SELECT amount FROM wallet_entries WHERE idempotency_key = $1", [debitKey(order)]).rows
        var refunded: Decimal = 0
        if let debit = debits.first {
            let amount = -(try debit.decode("amount", as: Decimal.self))
            let inserted = try db.query("""
                INSERT INTO wallet_entries (partner_id, kind, amount, idempotency_key, order_id) VALUES ($1, 'refund', $2, $3, $4)
                ON CONFLICT (idempotency_key) DO NOTHING
                """, [partner, amount, refundKey(order), order]).affectedRows
            if inserted == 1 {
                try db.query("UPDATE wallets SET balance = balance + $2, updated_at = now() WHERE partner_id = $1", [partner, amount])
            }
            refunded = amount
        }
        try emit(Payload.reply(SagaTopic.refunded, to: envelope, from: .payment, order: order,
                               ["amount": Money.json(refunded), "partnerId": .string(partner.lowercasedString)]))
    }
}
