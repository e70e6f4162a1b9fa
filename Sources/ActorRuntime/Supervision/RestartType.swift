/// When a child that ended on its own is restarted (OTP child `restart` values). A child stopped by its
/// parent (`context.stop(child)`, or the parent stopping) is never restarted, whatever its type.
public enum RestartType: String, Sendable, Hashable, Codable {
    /// Always restarted: after a crash, and after it stopped itself (`context.stop()`; OTP restarts a
    /// permanent child whatever the exit reason, `normal` included). OTP's default.
    case permanent
    /// Restarted after a crash only; stopping itself ends it for good.
    case transient
    /// Never restarted: a crash or a stop of its own ends it for good.
    case temporary
}
