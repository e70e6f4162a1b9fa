import Foundation

/// `amqp://user:password@host:port/vhost` (vhost percent-encoded: `%2F` is `/`).
public struct AMQPURL: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var user: String
    public var password: String
    public var vhost: String

    public init(_ text: String) throws(AMQPError) {
        guard let c = URLComponents(string: text), c.scheme == "amqp", let host = c.host, !host.isEmpty else {
            throw AMQPError(.badURL, "'\(Redact.url(text))' is not amqp://user:password@host:port/vhost")
        }
        self.host = host
        port = c.port ?? 5672
        user = c.user ?? "guest"
        password = c.password ?? "guest"
        let path = c.percentEncodedPath
        let rawVhost = path.hasPrefix("/") ? String(path.dropFirst()) : path
        vhost = rawVhost.isEmpty ? "/" : (rawVhost.removingPercentEncoding ?? rawVhost)
    }
}
