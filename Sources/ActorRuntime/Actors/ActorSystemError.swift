/// Mistakes in using an actor system: environment errors throw these, never trap.
public struct ActorSystemError: Error, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable { case invalidName, duplicateName, notRunning, permanentSignificant }

    public let code: Code
    public let message: String

    public var description: String { message }

    static func invalidName(_ name: String) -> Self {
        Self(code: .invalidName, message: "invalid actor name '\(name)': it must be non-empty, without '/', not starting with '$'")
    }
    static func duplicateName(_ path: ActorPath) -> Self {
        Self(code: .duplicateName, message: "an actor named \(path) is already running")
    }
    static func permanentSignificant(_ path: ActorPath) -> Self {
        Self(code: .permanentSignificant, message: "\(path) is significant and permanent: a significant actor must be transient or temporary (a permanent one never stops on its own)")
    }
    static func notRunning(_ path: ActorPath) -> Self {
        Self(code: .notRunning, message: "\(path) is stopping and cannot spawn children")
    }
}
