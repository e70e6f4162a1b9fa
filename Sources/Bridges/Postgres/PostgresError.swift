/// A failure talking to PostgreSQL. Server errors carry their SQLSTATE, so callers can tell a unique
/// violation or a serialization failure from the rest without parsing messages.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// Could not connect, or the connection broke (the pool replaces it).
        case connection
        /// The server refused the statement; see ``sqlState``.
        case server
        /// A column's value could not be decoded as the requested type.
        case decoding
        /// The pool was shut down.
        case closed
    }

    public let kind: Kind
    /// The five-character SQLSTATE code of a server error, e.g. `23505`.
    public let sqlState: String?
    public let message: String
    /// The column a decoding error is about.
    public let column: String?

    public init(_ kind: Kind, _ message: String, sqlState: String? = nil, column: String? = nil) {
        self.kind = kind
        self.message = message
        self.sqlState = sqlState
        self.column = column
    }

    /// `23505`: a row with the same unique key exists.
    public var isUniqueViolation: Bool { sqlState == "23505" }
    /// `40001`: the transaction lost a serialization race; running it again may succeed.
    public var isSerializationFailure: Bool { sqlState == "40001" }
    /// `40P01`: the transaction was chosen as a deadlock victim.
    public var isDeadlock: Bool { sqlState == "40P01" }
    /// The connection is gone: connection errors, SQLSTATE class 08, and the server shutting the
    /// session down (57P01-57P03, e.g. `pg_terminate_backend`).
    public var isConnectionFailure: Bool {
        kind == .connection || sqlState?.hasPrefix("08") == true || ["57P01", "57P02", "57P03"].contains(sqlState ?? "")
    }
    /// `25P02`: a statement of the transaction failed (and its error was caught), so it can only roll back.
    public var isAbortedTransaction: Bool { sqlState == "25P02" }
    /// What ``PostgresConnection/transaction(_:)`` throws instead of a COMMIT the server would turn into ROLLBACK.
    static let abortedTransaction = PostgresError(.server, "an earlier statement failed and aborted the transaction; it was rolled back, not committed",
                                                  sqlState: "25P02")
    /// Worth running the whole transaction again.
    public var isRetryable: Bool { isSerializationFailure || isDeadlock || isConnectionFailure }

    public var description: String {
        switch kind {
        case .connection: "PostgreSQL connection: \(message)"
        case .server: "PostgreSQL error \(sqlState ?? "?????"): \(message)"
        case .decoding: "column \(column ?? "?"): \(message)"
        case .closed: "PostgreSQL pool closed: \(message)"
        }
    }
}
