/// Failures the runtime itself raises in a supervision tree.
public struct SupervisionError: Error, CustomStringConvertible {
    public enum Code: Sendable { case intensityExceeded, childFailedToStart, childNotTakenDownInTime }

    public let code: Code
    /// The actor that gave up.
    public let supervisor: ActorPath
    public let message: String

    public var description: String { "\(supervisor): \(message)" }

    static func intensityExceeded(_ supervisor: ActorPath, child: ActorPath, _ intensity: RestartIntensity, cause: any Error) -> Self {
        Self(code: .intensityExceeded, supervisor: supervisor,
             message: "restart intensity exceeded (more than \(intensity.maxRestarts) restart(s) in \(intensity.within)); last failure in \(child): \(cause)")
    }

    static func childNotTakenDownInTime(_ supervisor: ActorPath, child: ActorPath, timeout: Duration) -> Self {
        Self(code: .childNotTakenDownInTime, supervisor: supervisor,
             message: "\(child) was not taken down for its restart within its shutdown timeout (\(timeout)) and was given up on; its siblings cannot be restarted in order without it")
    }
}
