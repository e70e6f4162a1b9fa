/// A message that could not be handled: its recipient had stopped, its retries ran out, or its
/// failure was permanent. Kept with the reason, never silently dropped.
public struct DeadLetter: Sendable, CustomStringConvertible {
    /// Who it was for.
    public let recipient: ActorPath
    /// The message itself.
    public let message: any Sendable
    /// Why it is here, for operators.
    public let reason: String
    /// How many times a handler tried it (0 when none did).
    public let attempts: Int

    public init(recipient: ActorPath, message: any Sendable, reason: String, attempts: Int = 0) {
        self.recipient = recipient
        self.message = message
        self.reason = reason
        self.attempts = attempts
    }

    public var description: String {
        "dead letter to \(recipient) after \(attempts) attempt(s): \(reason) [\(type(of: message))]"
    }
}
