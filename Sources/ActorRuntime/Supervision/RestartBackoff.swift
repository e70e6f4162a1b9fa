import Foundation

/// How long a supervisor waits before restarting a crashed child: nothing, or an exponential backoff
/// that grows with consecutive crashes, with jitter (so that children crashing together do not restart in
/// lockstep), and starts again from `initial` once the child has run `resetAfter` without crashing.
public struct RestartBackoff: Sendable, Hashable {
    public var initial: Duration
    public var maximum: Duration
    public var multiplier: Double
    /// A child that ran this long (counted from its restart, not its crash) starts again from `initial`.
    public var resetAfter: Duration
    /// Fraction of each delay that is randomised (0 = none, 0.2 = ±20 %).
    public var jitter: Double

    /// Restart at once (OTP's behaviour).
    public static let none = RestartBackoff(initial: .zero, maximum: .zero, multiplier: 1, resetAfter: .zero, jitter: 0)

    public static func exponential(initial: Duration, maximum: Duration, multiplier: Double = 2,
                                   resetAfter: Duration? = nil, jitter: Double = 0.2) -> Self {
        Self(initial: initial, maximum: maximum, multiplier: multiplier, resetAfter: resetAfter ?? maximum * 2, jitter: jitter)
    }

    public init(initial: Duration, maximum: Duration, multiplier: Double, resetAfter: Duration, jitter: Double = 0.2) {
        self.initial = initial
        self.maximum = max(initial, maximum)
        self.multiplier = max(1, multiplier)
        self.resetAfter = resetAfter
        self.jitter = min(max(jitter, 0), 1)
    }

    /// The delay before the `consecutive`-th restart in a row (1-based), with jitter; `unitRandom` in
    /// [0, 1) is injected by tests.
    public func delay(consecutive: Int, unitRandom: Double = Double.random(in: 0..<1)) -> Duration {
        let base = baseDelay(consecutive: consecutive)
        guard jitter > 0, base > .zero else { return base }
        return base * (1 + jitter * (2 * unitRandom - 1))
    }

    /// The delay before the `consecutive`-th restart in a row (1-based), before jitter.
    public func baseDelay(consecutive: Int) -> Duration {
        guard initial > .zero, consecutive > 0 else { return .zero }
        let factor = pow(multiplier, Double(consecutive - 1))
        let scaled = factor == factor.rounded() && factor < 1e9 ? initial * Int(factor) : initial * factor
        return scaled > maximum || !factor.isFinite ? maximum : scaled
    }
}
