import ActorRuntime
import Bridges
import Foundation

/// `GET /api/wallet`: a partner's balance and its ledger, newest first, a page at a time. Pages are cut by
/// entry id (`before`), not by offset, so entries written while a partner pages do not shift or repeat it.
public enum WalletStatement {
    /// Entries per page when the request does not say, and at most.
    public static let defaultLimit = 50, maxLimit = 200

    /// A page request's parameters, checked: a clear message naming the field otherwise.
    public struct Page: Sendable, Equatable {
        public var limit: Int
        /// Only entries with a smaller id (the previous page's `next`); nil: from the newest.
        public var before: Int64?

        public init(limit: Int = WalletStatement.defaultLimit, before: Int64? = nil) {
            self.limit = limit
            self.before = before
        }

        /// Reads `limit` and `before` from a query's values; the message names the field that is wrong.
        public static func parse(limit: String?, before: String?) throws(Problem) -> Page {
            var page = Page()
            if let limit {
                guard let n = Int(limit), (1...WalletStatement.maxLimit).contains(n) else {
                    throw Problem(description: "limit: '\(limit)' must be a whole number from 1 to \(WalletStatement.maxLimit)")
                }
                page.limit = n
            }
            if let before {
                guard let n = Int64(before), n > 0 else { throw Problem(description: "before: '\(before)' must be an entry id (a whole number above 0)") }
                page.before = n
            }
            return page
        }
    }

    public struct Problem: Error, CustomStringConvertible { public let description: String }

    /// The partner's balance and one page of its entries, with `next` (the `before` of the following
    /// page; null on the last one).
    public static func json(partner: UUID, page: Page, on db: PostgresConnection) throws -> JSONValue {
        let balance: Decimal = try db.query("SELECT balance FROM wallets WHERE partner_id = $1", [partner]).rows.first?.decode("balance") ?? 0
        let rows = try db.query("""
            SELECT id, kind, amount, order_id, created_at FROM wallet_entries
            WHERE partner_id = $1 AND ($2::bigint IS NULL OR id < $2) ORDER BY id DESC LIMIT $3
            """, [partner, page.before, page.limit + 1]).rows
        let shown = rows.prefix(page.limit)
        let entries: [JSONValue] = try shown.map { row in
            let order: UUID? = try row.decode("order_id")
            return .object([
                "id": .number(Double(try row.decode("id", as: Int64.self))), "kind": .string(try row.decode("kind")),
                "amount": Money.json(try row.decode("amount")), "orderId": order.map { .string($0.lowercasedString) } ?? .null,
                "createdAt": .string(Timestamp.format(try row.decode("created_at"))),
            ])
        }
        let next: JSONValue = rows.count > page.limit ? .number(Double(try shown.last!.decode("id", as: Int64.self))) : .null
        return .object(["balance": Money.json(balance), "entries": .array(entries), "next": next])
    }
}
