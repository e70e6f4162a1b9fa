import Synchronization

/// A process-unique identity of one actor incarnation; unlike a path, never reused.
public struct ActorID: Sendable, Hashable, CustomStringConvertible {
    public let value: UInt64
    @usableFromInline init(value: UInt64) { self.value = value }
    private static let counter = Atomic<UInt64>(0)

    @usableFromInline
    static func next() -> ActorID { ActorID(value: counter.wrappingAdd(1, ordering: .relaxed).newValue) }

    public var description: String { "#\(value)" }
}
