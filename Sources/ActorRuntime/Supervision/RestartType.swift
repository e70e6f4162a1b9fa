/// Whether a crashed child is restarted (OTP child `restart` values).
///
/// A child that stops itself, or is stopped by its parent, is never restarted: its references are
/// closed for good. So OTP's `transient` (restart only after an abnormal exit) behaves like `permanent` here.
public enum RestartType: String, Sendable, Hashable, Codable {
    /// Restart after a crash (OTP's default).
    case permanent
    /// Restart after a crash; listed for OTP familiarity, same as `permanent`.
    case transient
    /// Never restart: a crash stops it.
    case temporary
}
