import ActorRuntime
import Bridges
import Domain
import Foundation
import Hummingbird

/// Analytics on the edge: `POST /v1/analytics/track` (anonymous; 202 once the event is in the buffer,
/// 503 with `Retry-After` when the buffer is full) and `GET /api/analytics/summary?from=&to=` (admin).
enum AnalyticsRoutes {
    /// The longest range a summary covers.
    static let maxRange: TimeInterval = 366 * 86_400

    static func add(to router: Router<EdgeContext>, buffer: AnalyticsBuffer, pool: PostgresPool, admin: AdminToken) {
        router.post("/v1/analytics/track") { request, _ -> Response in
            let body: ByteBuffer
            do { body = try await request.body.collect(upTo: TrackedEvent.maxBodyBytes) } catch {
                throw EdgeError.tooLarge("the body is larger than \(TrackedEvent.maxBodyBytes) bytes")
            }
            let event: TrackedEvent
            do throws(TrackedEvent.Problem) { event = try TrackedEvent.parse(Array(buffer: body)) } catch {
                throw EdgeError.badRequest(error.description)
            }
            guard buffer.offer(event) else {
                throw EdgeError.unavailable("analytics cannot take events now; try again later",
                                            retryAfter: Int(buffer.configuration.interval.inSeconds.rounded(.up)))
            }
            return accepted
        }

        router.get("/api/analytics/summary") { request, context -> Response in
            try admin.check(request, context: context)
            let now = Date()
            func time(_ key: String, default value: Date) throws -> Date {
                guard let text = request.uri.queryParameters[Substring(key)] else { return value }
                guard let date = ISO8601DateFormatter().date(from: String(text)) else {
                    throw EdgeError.badRequest("\(key): '\(text)' is not an ISO 8601 time like 2026-12-03T00:00:00Z")
                }
                return date
            }
            let from = try time("from", default: now.addingTimeInterval(-86_400)), to = try time("to", default: now)
            guard from < to else { throw EdgeError.unprocessable("to: must be after from") }
            guard to.timeIntervalSince(from) <= maxRange else { throw EdgeError.unprocessable("to: the range is at most 366 days") }
            return EdgeJSON.response(.ok, try await pool.withConnection { db in try AnalyticsReport.json(from: from, to: to, on: db) })
        }
    }

    private static var accepted: Response { EdgeJSON.response(.accepted, .object(["accepted": .bool(true)])) }
}
