/// How a supervisor reacts when one of its children crashes (Erlang/OTP `supervisor` vocabulary).
public struct SupervisorStrategy: Sendable, Hashable {
    /// Which children are restarted when one fails.
    public enum Kind: String, Sendable, Hashable, Codable {
        /// Only the failed child (OTP `one_for_one`).
        case oneForOne = "one-for-one"
        /// Every child (OTP `one_for_all`): for children that only work together.
        case oneForAll = "one-for-all"
        /// The failed child and every child started after it (OTP `rest_for_one`): for start-order dependencies.
        case restForOne = "rest-for-one"
    }

    public var kind: Kind
    /// At most this many restarts in a window, or the supervisor gives up and escalates.
    public var intensity: RestartIntensity

    /// OTP's defaults: one-for-one, at most 1 restart in 5 seconds.
    public init(_ kind: Kind = .oneForOne, intensity: RestartIntensity = RestartIntensity()) {
        self.kind = kind
        self.intensity = intensity
    }

    public static func oneForOne(maxRestarts: Int = 1, within: Duration = .seconds(5)) -> Self {
        Self(.oneForOne, intensity: RestartIntensity(maxRestarts: maxRestarts, within: within))
    }

    public static func oneForAll(maxRestarts: Int = 1, within: Duration = .seconds(5)) -> Self {
        Self(.oneForAll, intensity: RestartIntensity(maxRestarts: maxRestarts, within: within))
    }

    public static func restForOne(maxRestarts: Int = 1, within: Duration = .seconds(5)) -> Self {
        Self(.restForOne, intensity: RestartIntensity(maxRestarts: maxRestarts, within: within))
    }

    /// Indices of the children to restart when the child at `failed` (in start order) crashed.
    public func childrenToRestart(failed: Int, childCount: Int) -> Range<Int> {
        switch kind {
        case .oneForOne: failed..<(failed + 1)
        case .oneForAll: 0..<childCount
        case .restForOne: failed..<childCount
        }
    }
}
