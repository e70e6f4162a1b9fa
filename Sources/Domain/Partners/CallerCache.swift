import Foundation
import Synchronization

/// Remembers which partner a key belongs to for a short while, so the edge does not query the database
/// for every request of a partner that sends many. Keyed by the key's HMAC hash (no key is kept in
/// memory); only known keys are remembered, so a revoked key stops working within `ttl`, and a new
/// key works at once.
public final class CallerCache: Sendable {
    private struct Entry {
        let caller: PartnerRegistry.Caller
        let expires: ContinuousClock.Instant
    }

    public let registry: PartnerRegistry
    public let ttl: Duration
    private let capacity: Int
    private let entries = Mutex<[[UInt8]: Entry]>([:])

    public init(registry: PartnerRegistry, ttl: Duration = .seconds(30), capacity: Int = 10_000) {
        self.registry = registry
        self.ttl = ttl
        self.capacity = max(1, capacity)
    }

    /// The partner `key` belongs to, or nil for an unknown or revoked key.
    public func caller(forKey key: String) async throws -> PartnerRegistry.Caller? {
        let hash = APIKey(text: key).hash(secret: registry.keySecret), now = ContinuousClock.now
        if let entry = entries.withLock({ $0[hash] }), entry.expires > now { return entry.caller }
        guard let caller = try await registry.caller(forHash: hash) else { return nil }
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[hash] = Entry(caller: caller, expires: now + ttl)
        }
        return caller
    }
}
