/// How a handler's error is treated, separately from supervision restarts.
public enum FailureDisposition: Sendable, Hashable {
    /// Worth trying again (a timeout, a lost connection): retried per the ``RetryPolicy``, then dead-lettered.
    case transient
    /// Will never succeed (bad input): dead-lettered at once, the actor carries on.
    case permanent
    /// A bug or broken state: the message is dead-lettered and the actor fails, so its supervisor decides.
    case crash
}

/// An error that says how it should be handled. Errors that do not conform are crashes.
public protocol ClassifiedError: Error {
    var disposition: FailureDisposition { get }
}

/// Wraps any error as transient.
public struct TransientError: ClassifiedError, CustomStringConvertible {
    public let underlying: any Error
    public init(_ underlying: any Error) { self.underlying = underlying }
    public var disposition: FailureDisposition { .transient }
    public var description: String { "transient: \(underlying)" }
}

/// Wraps any error as permanent.
public struct PermanentError: ClassifiedError, CustomStringConvertible {
    public let underlying: any Error
    public init(_ underlying: any Error) { self.underlying = underlying }
    public var disposition: FailureDisposition { .permanent }
    public var description: String { "permanent: \(underlying)" }
}

/// The per-message failure policy of an actor: how errors are classified and how transient ones are retried.
public struct FailurePolicy: Sendable {
    public var retry: RetryPolicy
    public var classify: @Sendable (any Error) -> FailureDisposition

    public init(retry: RetryPolicy = RetryPolicy(),
                classify: @escaping @Sendable (any Error) -> FailureDisposition = FailurePolicy.defaultClassifier) {
        self.retry = retry
        self.classify = classify
    }

    /// ``ClassifiedError``s say for themselves; everything else is a crash.
    @Sendable public static func defaultClassifier(_ error: any Error) -> FailureDisposition {
        (error as? any ClassifiedError)?.disposition ?? .crash
    }

    public static let `default` = FailurePolicy()
}
