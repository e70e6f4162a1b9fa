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

    static func debit(_ envelope: Envelope, _ db: PostgresConnection, emit: (Envelope) throws -> Void) throws {
        let p = Payload(envelope)
        let order = try p.uuid("orderId"), partner = try p.uuid("partnerId"), amount = try p.money("amount")
        let fields: [String: JSONValue] = ["amount": Money.json(amount)]
        let key = "\(order.lowercasedString):debit"
        if try !db.query("SELECT 1 FROM wallet_entries WHERE idempotency_key = $1", [key]).rows.isEmpty {
            try emit(Payload.reply(SagaTopic.debited, to: envelope, from: .payment, order: order, fields))      // replayed
            return
        }
        let paid = try db.query("""
            UPDATE wallets SET balance = balance - $2, updated_at = now() WHERE partner_id = $1 AND balance >= $2
            """, [partner, amount]).affectedRows
        guard paid == 1 else {
            try emit(Payload.reply(SagaTopic.debitFailed, to: envelope, from: .payment, order: order,
                                   fields.merging(["reason": .string("insufficient funds")]) { a, _ in a }))
            return
        }
        // A concurrent debit of the same order fails here on the unique key and is retried, then sees it.
        try db.query("INSERT INTO wallet_entries (partner_id, kind, amount, idempotency_key, order_id) VALUES ($1, 'debit', $2, $3, $4)",
                     [partner, -amount, key, order])
        try emit(Payload.reply(SagaTopic.debited, to: envelope, from: .payment, order: order, fields))
    }

    /// Gives a debited order's amount back (a compensation): only if it was debited, and only once.
    static func refund(_ envelope: Envelope, _ db: PostgresConnection, emit: (Envelope) throws -> Void) throws {
        let p = Payload(envelope)
        let order = try p.uuid("orderId"), partner = try p.uuid("partnerId")
        let debits = try db.query("SELECT amount FROM wallet_entries WHERE idempotency_key = $1", ["\(order.lowercasedString):debit"]).rows
        var refunded: Decimal = 0
        if let debit = debits.first {
            let amount = -(try debit.decode("amount", as: Decimal.self))
            let inserted = try db.query("""
                INSERT INTO wallet_entries (partner_id, kind, amount, idempotency_key, order_id) VALUES ($1, 'refund', $2, $3, $4)
                ON CONFLICT (idempotency_key) DO NOTHING
                """, [partner, amount, "\(order.lowercasedString):refund", order]).affectedRows
            if inserted == 1 {
                try db.query("UPDATE wallets SET balance = balance + $2, updated_at = now() WHERE partner_id = $1", [partner, amount])
            }
            refunded = amount
        }
        try emit(Payload.reply(SagaTopic.refunded, to: envelope, from: .payment, order: order, ["amount": Money.json(refunded)]))
    }
}
