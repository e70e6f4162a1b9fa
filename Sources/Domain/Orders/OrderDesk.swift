import ActorRuntime
import Bridges
import Foundation

/// Takes partners' orders: prices them, writes them with status `Processing` and their `order.created`
/// envelope atomically (the outbox), idempotently on (partner, referenceId): the same request again
/// returns the same order, and of concurrent duplicates exactly one creates it.
///
/// Concurrent requests are written together (``PostgresBatcher``, ``AcceptBatch``): under load many
/// orders share one round trip and one commit, which is what lets one node accept thousands a second
/// on a disk that flushes a few thousand times a second.
public final class OrderDesk: Sendable {
    public enum Refusal: Error, Equatable, CustomStringConvertible {
        /// A well-formed value that cannot be ordered (unknown sku, face value out of range): 422.
        case invalid(field: String, message: String)
        /// The referenceId was used for a different order: 409.
        case conflict(String)

        public var description: String {
            switch self {
            case .invalid(let field, let message): "\(field): \(message)"
            case .conflict(let message): message
            }
        }
    }

    /// One caller's order, as the batch gets it.
    struct Submission: Sendable {
        let request: OrderRequest
        let partner: UUID
        let correlationId: String
    }

    /// What the batch answers one caller.
    struct Acceptance: Sendable {
        let order: Order
        let created: Bool
    }

    public let pool: PostgresPool
    private let batcher: PostgresBatcher<Submission, Acceptance>

    public init(pool: PostgresPool) {
        self.pool = pool
        // Two writers: while one batch waits for its round trips and commit, the next is written. With the edge
        // alone one writer was as fast; with the saga sharing the cores (each wait for a CPU is then longer),
        // two accepted more in six of eight alternated pairs of runs, with a lower p99 (README, troupe-bench orders).
        batcher = PostgresBatcher(pool: pool, writers: 2) { submissions, db in try AcceptBatch.write(submissions, on: db) }
    }

    /// Accepts `request` for `partner`; returns the order and whether this call created it.
    public func accept(_ request: OrderRequest, partner: UUID, correlationId: String) async throws -> (order: Order, created: Bool) {
        let accepted = try await batcher.submit(Submission(request: request, partner: partner, correlationId: correlationId))
        return (accepted.order, accepted.created)
    }

    /// Order `id` if it belongs to `partner` (another partner's order is as good as missing).
    public func order(_ id: UUID, partner: UUID) async throws -> Order? {
        try await pool.withConnection { db in
            try db.query("SELECT \(Order.columns) FROM orders WHERE id = $1 AND partner_id = $2", [id, partner]).rows.first.map(Order.init(row:))
        }
    }
}
