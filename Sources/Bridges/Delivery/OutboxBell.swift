import Foundation

/// Tells the outbox relays of this process that envelopes were committed, so they publish them at once
/// instead of at their next poll. Rung after the commit, in process: a `pg_notify` inside each
/// transaction would do it across processes, but PostgreSQL serialises the commits of notifying
/// transactions (a global lock held through the WAL flush), which took away its group commit and
/// capped every node's handled-and-committed rate. Every node runs a relay, so the local one is enough;
/// an envelope written by a process without one is published at the next poll.
public enum OutboxBell {
    private static let bell = InProcessBell()

    /// Calls `wake` on every ring until the token is passed to ``stopListening(_:)``.
    static func listen(_ wake: @escaping @Sendable () -> Void) -> UUID { bell.listen(wake) }

    static func stopListening(_ token: UUID) { bell.stopListening(token) }

    /// Wakes this process's relays.
    public static func ring() { bell.ring() }
}
