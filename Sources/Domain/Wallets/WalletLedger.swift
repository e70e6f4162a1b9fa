import Bridges
import Foundation

/// Credits to a wallet: a ledger entry idempotent on its key, and the balance beside it in the same
/// statement, saying who made it and why.
public enum WalletLedger {
    /// Credits `amount` to `partner`'s wallet once per `key`. - Returns: the new balance, or nil when an
    /// entry with `key` exists already (nothing changed) or the partner has no wallet.
    public static func topUp(partner: UUID, amount: Decimal, key: String, createdBy: String, reason: String,
                             on db: PostgresConnection) throws -> Decimal? {
        try db.query("""
            WITH entry AS (
                INSERT INTO wallet_entries (partner_id, kind, amount, idempotency_key, created_by, reason)
                SELECT $1, 'topup', $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM wallets WHERE partner_id = $1)
                ON CONFLICT (idempotency_key) DO NOTHING RETURNING amount
            )
            UPDATE wallets w SET balance = w.balance + entry.amount, updated_at = now() FROM entry WHERE w.partner_id = $1
            RETURNING w.balance
            """, [partner, amount, key, createdBy, reason]).rows.first?.decode("balance")
    }
}
