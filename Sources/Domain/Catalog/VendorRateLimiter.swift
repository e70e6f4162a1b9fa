import Bridges
import Foundation

/// A limit on calls to one vendor endpoint (Bamboo's catalog and categories: 2 an hour), shared by every
/// node: the state is in PostgreSQL (`vendor_rate_limits`, `vendor_calls`), and a call is counted under the
/// limiter's row lock, so nodes and manual triggers together never make more than `calls` calls in any
/// `window`. The vendor's own "wait" (a 429) holds every caller until it passes.
public struct VendorRateLimiter: Sendable, Equatable {
    public let name: String
    public var calls: Int
    public var window: Duration

    public static let catalog = VendorRateLimiter(name: "bamboo_catalog", calls: 2, window: .seconds(3600))
    public static let categories = VendorRateLimiter(name: "bamboo_categories", calls: 2, window: .seconds(3600))

    public init(name: String, calls: Int, window: Duration) {
        self.name = name
        self.calls = calls
        self.window = window
    }

    /// What the limiter says now.
    public enum Decision: Sendable, Equatable {
        /// Call now; the call is counted as `call` (give it back with ``refund(_:retryAfter:on:)`` when the
        /// vendor answered 429 without serving it).
        case go(call: Int64)
        /// Not before this time.
        case wait(until: Date)
    }

    /// Takes a call from the budget if there is one. Call it in a transaction of its own and commit before
    /// calling the vendor, so other nodes see the call counted.
    public func acquire(on db: PostgresConnection) throws -> Decision {
        if case .wait(let until) = try peek(on: db, lock: true) { return .wait(until: until) }
        let id: Int64 = try db.query("INSERT INTO vendor_calls (limiter) VALUES ($1) RETURNING id", [name]).rows[0].decode("id")
        return .go(call: id)
    }

    /// When a call could be made, without taking one: nil for now. `lock` holds the limiter's row to the
    /// end of the transaction (``acquire(on:)``).
    public func peek(on db: PostgresConnection, lock: Bool = false) throws -> Decision? {
        try db.query("INSERT INTO vendor_rate_limits (name) VALUES ($1) ON CONFLICT (name) DO NOTHING", [name])
        let limiter = try db.query("SELECT retry_after_until, now() AS now FROM vendor_rate_limits WHERE name = $1\(lock ? " FOR UPDATE" : "")",
                                   [name]).rows[0]
        let now: Date = try limiter.decode("now")
        if let until: Date = try limiter.decode("retry_after_until"), until > now { return .wait(until: until) }
        if lock { try db.query("DELETE FROM vendor_calls WHERE limiter = $1 AND at <= now() - make_interval(secs => $2)", [name, window.inSeconds]) }
        // The calls of the window, oldest first: when `calls` are made, the oldest of the last `calls` frees a slot.
        let recent = try db.query("""
            SELECT at FROM vendor_calls WHERE limiter = $1 AND at > now() - make_interval(secs => $2) ORDER BY at DESC LIMIT $3
            """, [name, window.inSeconds, max(1, calls)]).rows
        guard recent.count >= calls else { return nil }
        guard let oldest = recent.last else { return .wait(until: now.addingTimeInterval(window.inSeconds)) }    // a limit of 0
        return .wait(until: try oldest.decode("at", as: Date.self).addingTimeInterval(window.inSeconds))
    }

    /// The vendor answered a counted call with 429: no one calls before `retryAfter` has passed, and the call
    /// leaves the budget (the retry does not spend a second slot), once per window: a vendor that keeps
    /// answering 429 (or says a wait too short to be true) has its further refusals counted.
    public func refund(_ call: Int64, retryAfter: Duration, on db: PostgresConnection) throws {
        try db.query("INSERT INTO vendor_rate_limits (name) VALUES ($1) ON CONFLICT (name) DO NOTHING", [name])
        let refunded = try db.query("""
            UPDATE vendor_rate_limits SET refunded_at = now()
            WHERE name = $1 AND (refunded_at IS NULL OR refunded_at <= now() - make_interval(secs => $2))
            """, [name, window.inSeconds]).affectedRows == 1
        if refunded { try db.query("DELETE FROM vendor_calls WHERE id = $1", [call]) }
        try db.query("""
            UPDATE vendor_rate_limits SET retry_after_until = GREATEST(retry_after_until, now() + make_interval(secs => $2)) WHERE name = $1
            """, [name, retryAfter.inSeconds])
    }

    /// A counted call was answered: its time becomes the answer's (the vendor counts it when it got it, which
    /// is after it was counted here), so the window frees no sooner than the vendor's.
    public func answered(_ call: Int64, on db: PostgresConnection) throws {
        try db.query("UPDATE vendor_calls SET at = clock_timestamp() WHERE id = $1", [call])
    }
}
