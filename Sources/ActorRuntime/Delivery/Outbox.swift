/// Transactional outbox: where a handler (or an HTTP request) puts the envelopes it emits. They are
/// written in the same transaction as its state change and published after commit by a relay, so a
/// crash between commit and publish loses nothing, and nothing is published for a rolled-back change.
public protocol Outbox {
    /// Records `envelope` for publishing once the current transaction commits.
    func emit(_ envelope: Envelope) throws
}
