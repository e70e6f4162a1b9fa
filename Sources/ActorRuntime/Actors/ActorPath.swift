/// Where an actor lives in its system's tree, e.g. `/user/orders/order-queue-1`.
public struct ActorPath: Sendable, Hashable, CustomStringConvertible, Comparable {
    /// The names from the root, e.g. `["user", "orders", "order-queue-1"]`.
    public let segments: [String]

    public init(_ segments: [String]) { self.segments = segments }

    /// The path of a child called `name`.
    public func appending(_ name: String) -> ActorPath { ActorPath(segments + [name]) }

    /// The last segment.
    public var name: String { segments.last ?? "" }

    public var description: String { "/" + segments.joined(separator: "/") }

    public static func < (a: ActorPath, b: ActorPath) -> Bool { a.description < b.description }

    /// Whether `name` can be an actor name: non-empty, no `/`, no leading `$` (reserved for generated names).
    public static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && !name.contains("/") && !name.hasPrefix("$") && name.utf8.count <= 255
    }
}
