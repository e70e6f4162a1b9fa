/// Where uploaded code files are read from (the reference reads S3). Small on purpose, so that a store for S3 or
/// another service is one more conformance: ``DirectoryObjectStore`` ships, for development and single hosts.
public protocol ObjectStore: Sendable {
    /// The object's bytes in order, read as the caller consumes them (never the whole object in memory).
    /// Throws ``ObjectStoreError/notFound(_:)`` when the store has no such key.
    func read(_ key: String) async throws -> any AsyncSequence<[UInt8], any Error> & Sendable
}

/// Why an object could not be read.
public enum ObjectStoreError: Error, Equatable, CustomStringConvertible {
    /// The store has no object under the key.
    case notFound(String)
    /// The key is not one the store can hold (an absolute path, `..`, an empty part).
    case invalidKey(String)
    /// The object exists but reading it failed.
    case unreadable(String, reason: String)

    public var description: String {
        switch self {
        case .notFound(let key): "no object '\(key)' in the store"
        case .invalidKey(let key): "'\(key)' is not a key of the store"
        case .unreadable(let key, let reason): "object '\(key)' could not be read: \(reason)"
        }
    }
}
