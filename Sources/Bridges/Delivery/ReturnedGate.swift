/// Lets one returned delivery (one that came back with the broker's redelivered flag) be counted and handled at
/// a time in the whole process, first come first served. A message that crashes its process is then the only
/// returned message in hand when it does, so the quarantine's count is charged to it and not to another
/// consumer's message that came back with it after the same crash. First deliveries never wait for it.
///
/// A holder keeps the gate for ``lease`` at most: a returned delivery that is slow (a vendor call, a database
/// outage it waits out) lets the others through after that, so it never stalls every component of the node.
public actor ReturnedGate {
    /// The process's one gate: all of its consumers share it.
    public static let shared = ReturnedGate()

    /// How long one holder keeps the gate at most. A crash bug traps within its handler's run, well inside it.
    public static let lease: Duration = .seconds(5)

    private var holder: UInt64?
    private var issued: UInt64 = 0
    private var waiting: [(ticket: UInt64, continuation: CheckedContinuation<Void, Never>)] = []

    /// Waits until the gate is free, then holds it; returns the ticket to release it with.
    public func acquire() async -> UInt64 {
        issued += 1
        let ticket = issued
        if holder == nil {
            holder = ticket
        } else {
            await withCheckedContinuation { waiting.append((ticket, $0)) }
        }
        Task {
            try? await Task.sleep(for: Self.lease)
            self.release(ticket)
        }
        return ticket
    }

    /// Hands the gate to the next in line, or frees it; nothing if `ticket` no longer holds it (its lease ran out).
    public func release(_ ticket: UInt64) {
        guard holder == ticket else { return }
        if waiting.isEmpty {
            holder = nil
        } else {
            let next = waiting.removeFirst()
            holder = next.ticket
            next.continuation.resume()
        }
    }
}
