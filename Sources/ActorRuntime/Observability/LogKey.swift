import Logging

/// Metadata keys the runtime logs with, dot-namespaced so that log pipelines can index them.
public enum LogKey {
    public static let actorPath = "troupe.actor.path"
    public static let messageID = "troupe.message.id"
    public static let correlationID = "troupe.correlation_id"
    public static let reason = "troupe.reason"
    public static let attempts = "troupe.attempts"
    public static let messageType = "troupe.message.type"
    public static let system = "troupe.system"
}
