import Logging

/// A failure talking to RabbitMQ.
public struct AMQPError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// Could not connect or log in, or the connection broke: reconnecting may help.
        case connection
        /// The broker refused an operation (e.g. a queue declared with other arguments); `code` says why.
        case refused
        /// The URL is not an `amqp://` URL.
        case badURL
        /// The publisher or consumer was closed.
        case closed
        /// The message can never be published (a property over 255 bytes, headers over `frame_max`):
        /// retrying or reconnecting does not help.
        case unpublishable
    }

    public let kind: Kind
    public let message: String
    /// The AMQP reply code of a refusal (e.g. 406 PRECONDITION_FAILED, 404 NOT_FOUND).
    public let code: Int?

    public init(_ kind: Kind, _ message: String, code: Int? = nil) {
        self.kind = kind
        self.message = message
        self.code = code
    }

    public var description: String {
        switch kind {
        case .connection: "AMQP connection: \(message)"
        case .refused: "AMQP broker refused (\(code.map(String.init) ?? "?")): \(message)"
        case .badURL: "AMQP URL: \(message)"
        case .closed: "AMQP: \(message)"
        case .unpublishable: "AMQP message cannot be published: \(message)"
        }
    }
}

extension AMQPError {
    /// `error` if the broker refused an operation (a configuration error retrying does not mend); nil otherwise.
    static func refusal(in error: any Error) -> AMQPError? {
        (error as? AMQPError).flatMap { $0.kind == .refused ? $0 : nil }
    }

    /// Logs why `role`'s (re)connection failed before it retries: a refusal as an error, anything else as a warning.
    static func logRetry(_ role: String, _ error: any Error, on logger: Logger, _ metadata: Logger.Metadata = [:]) {
        var metadata = metadata
        metadata["reason"] = "\(error)"
        if refusal(in: error) != nil {
            logger.error("AMQP broker refused the \(role)'s declarations; retrying", metadata: metadata)
        } else {
            logger.warning("AMQP \(role) cannot reach the broker; retrying", metadata: metadata)
        }
    }
}
