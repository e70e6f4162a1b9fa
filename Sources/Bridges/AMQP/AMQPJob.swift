import Foundation

/// A short job on a connection of its own, run on a dedicated thread (librabbitmq blocks): for
/// operators' commands, not for the message path.
enum AMQPJob {
    static func run<T: Sendable>(url: String, _ body: @escaping @Sendable (AMQPConnection) throws -> T) async throws -> T {
        let parsed = try AMQPURL(url)
        return try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, any Error>) in
            let thread = Thread {
                do {
                    let connection = try AMQPConnection(url: parsed)
                    c.resume(returning: try body(connection))
                } catch {
                    c.resume(throwing: error)
                }
            }
            thread.name = "troupe.amqp.job"
            thread.start()
        }
    }
}
