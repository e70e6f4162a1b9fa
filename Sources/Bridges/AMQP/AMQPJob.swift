/// A short job on a connection of its own, on a dedicated thread: for operators' commands, not for the
/// message path.
enum AMQPJob {
    static func run<T: Sendable>(url: String, _ body: @escaping @Sendable (AMQPConnection) throws -> T) async throws -> T {
        let parsed = try AMQPURL(url)
        return try await DedicatedThread.run("troupe.amqp.job") { try body(AMQPConnection(url: parsed)) }
    }
}
