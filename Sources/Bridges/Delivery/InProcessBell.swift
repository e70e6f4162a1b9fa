import Foundation
import Synchronization

/// Wakes listeners of this process when something was committed for them (rung after the commit), so
/// they act at once instead of at their next poll. In process only: see ``OutboxBell`` for why not
/// `pg_notify`.
public final class InProcessBell: Sendable {
    private let listeners = Mutex<[UUID: @Sendable () -> Void]>([:])

    public init() {}

    /// Calls `wake` on every ring until the token is passed to ``stopListening(_:)``.
    public func listen(_ wake: @escaping @Sendable () -> Void) -> UUID {
        let token = UUID()
        listeners.withLock { $0[token] = wake }
        return token
    }

    public func stopListening(_ token: UUID) {
        _ = listeners.withLock { $0.removeValue(forKey: token) }
    }

    public func ring() {
        for wake in listeners.withLock({ Array($0.values) }) { wake() }
    }
}
