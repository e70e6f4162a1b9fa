/// Lets one returned delivery (one that came back with the broker's redelivered flag) be counted and handled at
/// a time in the whole process, first come first served. A message that crashes its process is then the only
/// returned message in hand when it does, so the quarantine's count is charged to it and not to another
/// consumer's message that came back with it after the same crash. First deliveries never wait for it.
public actor ReturnedGate {
    /// The process's one gate: all of its consumers share it.
    public static let shared = ReturnedGate()

    private var held = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    /// Waits until the gate is free, then holds it.
    public func acquire() async {
        guard held else { held = true; return }
        await withCheckedContinuation { waiting.append($0) }
    }

    /// Hands the gate to the next in line, or frees it.
    public func release() {
        if waiting.isEmpty { held = false } else { waiting.removeFirst().resume() }
    }
}
