import ActorRuntime
import Synchronization

/// The edge's rate limits: a ``TokenBucket`` per client and kind of route, as deep as a minute's allowance
/// and refilled evenly. Per node: several edge nodes each allow the full rate (README says so).
///
/// Buckets of clients that have been quiet long enough to be full again are forgotten when the table
/// grows past ``maxClients``, so a scan from many addresses cannot grow it without bound.
final class EdgeRateLimits: Sendable {
    enum Kind: String, Sendable {
        /// Anonymous routes, per client IP.
        case anonymous
        /// Credentials that were not valid (an unknown API key, a wrong admin token), per client IP: a
        /// flood of guesses is refused before it reaches PostgreSQL.
        case badCredentials = "bad-credentials"
        /// Partner routes, per API key.
        case partner
        /// Admin routes, per token.
        case admin
        /// The code pools' routes, per JWT subject.
        case codes
    }

    static let maxClients = 100_000

    private let perMinute: [Kind: Int]
    private let buckets = Mutex<[String: TokenBucket]>([:])

    init(_ limits: Topology.RateLimits) {
        perMinute = [.anonymous: limits.anonymousPerMinute, .badCredentials: limits.anonymousPerMinute,
                     .partner: limits.partnerPerMinute, .admin: limits.adminPerMinute,
                     .codes: limits.codesPerMinute]
    }

    /// Takes a token of `client`'s bucket of `kind`, or throws the 429 saying when to come back.
    func take(_ kind: Kind, client: String) throws(EdgeError) {
        if case .wait(let delay) = decide(kind, client: client) {
            throw EdgeError.tooManyRequests("more than \(perMinute[kind]!) \(kind.rawValue) requests a minute; try again later",
                                            retryAfter: max(1, Int(delay.inSeconds.rounded(.up))))
        }
    }

    /// Gives back the token of `client`'s bucket of `kind` taken for a request that turned out not to count
    /// (credentials taken before a lookup, which proved valid): so concurrent guesses cannot all pass a check
    /// before any of them is counted.
    func giveBack(_ kind: Kind, client: String) {
        let key = kind.rawValue + "|" + client, now = ContinuousClock.now
        buckets.withLock { buckets in buckets[key]?.refund(at: now) }
    }

    private func decide(_ kind: Kind, client: String) -> TokenBucket.Decision {
        let limit = perMinute[kind]!, key = kind.rawValue + "|" + client, now = ContinuousClock.now
        return buckets.withLock { buckets in
            if buckets.count >= Self.maxClients, buckets[key] == nil {
                buckets = buckets.filter { !$0.value.isFull(at: now) }
            }
            var bucket = buckets[key] ?? TokenBucket(capacity: limit, ratePerSecond: Double(limit) / 60, now: now)
            let decision = bucket.acquire(at: now)
            buckets[key] = bucket
            return decision
        }
    }
}
