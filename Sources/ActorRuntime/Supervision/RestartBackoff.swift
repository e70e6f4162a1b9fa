import Foundation

/// How long a supervisor waits before restarting a crashed child: nothing, or an exponential backoff
/// that grows with consecutive crashes and resets after a quiet period.
public struct RestartBackoff: Sendable, Hashable {
    public var initial: Duration
    public var maximum: Duration
    public var multiplier: Double
    /// A child that ran this long without crashing starts again from `initial`.
    public var resetAfter: Duration

    /// Restart at once (OTP's behaviour).
    public static let none = RestartBackoff(initial: .zero, maximum: .zero, multiplier: 1, resetAfter: .zero)

    public static func exponential(initial: Duration, maximum: Duration, multiplier: Double = 2,
                                   resetAfter: Duration? = nil) -> Self {
        Self(initial: initial, maximum: maximum, multiplier: multiplier, resetAfter: resetAfter ?? maximum * 2)
    }

    public init(initial: Duration, maximum: Duration, multiplier: Double, resetAfter: Duration) {
        self.initial = initial
        self.maximum = max(initial, maximum)
        self.multiplier = max(1, multiplier)
        self.resetAfter = resetAfter
    }

    /// The delay before the `consecutive`-th restart in a row (1-based).
    public func delay(consecutive: Int) -> Duration {
        guard initial > .zero, consecutive > 0 else { return .zero }
        let factor = pow(multiplier, Double(consecutive - 1))
        let scaled = factor == factor.rounded() && factor < 1e9 ? initial * Int(factor) : initial * factor
        return scaled > maximum || !factor.isFinite ? maximum : scaled
    }
}
