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

    /// Whether significant children stopping on their own stop the supervisor (OTP's `auto_shutdown`).
    public enum AutoShutdown: String, Sendable, Hashable, Codable {
        /// Never (OTP's default).
        case never
        /// When any significant child stops on its own.
        case anySignificant = "any-significant"
        /// When every significant child has stopped on its own.
        case allSignificant = "all-significant"
    }

    public var kind: Kind
    /// At most this many restarts in a window, or the supervisor gives up and escalates.
    public var intensity: RestartIntensity
    /// See ``AutoShutdown``. The supervisor's stop is one of its own: its own restart type decides what follows.
    public var autoShutdown: AutoShutdown

    /// OTP's defaults: one-for-one, at most 1 restart in 5 seconds, no auto shutdown.
    public init(_ kind: Kind = .oneForOne, intensity: RestartIntensity = RestartIntensity(), autoShutdown: AutoShutdown = .never) {
        self.kind = kind
        self.intensity = intensity
        self.autoShutdown = autoShutdown
    }

    public static func oneForOne(maxRestarts: Int = 1, within: Duration = .seconds(5), autoShutdown: AutoShutdown = .never) -> Self {
        Self(.oneForOne, intensity: RestartIntensity(maxRestarts: maxRestarts, within: within), autoShutdown: autoShutdown)
    }

    public static func oneForAll(maxRestarts: Int = 1, within: Duration = .seconds(5), autoShutdown: AutoShutdown = .never) -> Self {
        Self(.oneForAll, intensity: RestartIntensity(maxRestarts: maxRestarts, within: within), autoShutdown: autoShutdown)
    }

    public static func restForOne(maxRestarts: Int = 1, within: Duration = .seconds(5), autoShutdown: AutoShutdown = .never) -> Self {
        Self(.restForOne, intensity: RestartIntensity(maxRestarts: maxRestarts, within: within), autoShutdown: autoShutdown)
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
