/// Why an ask got no answer.
public struct AskError: Error, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable { case timedOut, recipientStopped }

    public let code: Code
    /// Whom we asked.
    public let target: ActorPath
    /// How long we were willing to wait.
    public let timeout: Duration

    public init(_ code: Code, target: ActorPath, timeout: Duration) {
        self.code = code
        self.target = target
        self.timeout = timeout
    }

    public var description: String {
        switch code {
        case .timedOut: "ask to \(target) timed out after \(timeout)"
        case .recipientStopped: "ask to \(target) failed: the actor has stopped"
        }
    }
}
