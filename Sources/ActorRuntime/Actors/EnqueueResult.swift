/// What happened to a message offered to a mailbox without waiting.
public enum EnqueueResult: Sendable, Hashable {
    /// It is in the mailbox.
    case enqueued
    /// The mailbox is at capacity; nothing was enqueued (the caller keeps the message).
    case full
    /// The actor has stopped; the message went to dead letters.
    case closed
}
