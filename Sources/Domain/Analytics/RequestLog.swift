import Foundation

/// One request the edge answered, for Analytics: never its body, API key or query string.
public struct RequestLog: Sendable, Equatable {
    public let receivedAt: Date
    public let method: String
    /// The route's template (`/api/orders/{id}`), not the path, so ids are not logged as routes.
    public let route: String
    public let status: Int
    public let durationMilliseconds: Double
    public let partner: UUID?
    public let correlationId: String

    public init(receivedAt: Date, method: String, route: String, status: Int, durationMilliseconds: Double, partner: UUID?, correlationId: String) {
        self.receivedAt = receivedAt
        self.method = method
        self.route = route
        self.status = status
        self.durationMilliseconds = durationMilliseconds
        self.partner = partner
        self.correlationId = correlationId
    }
}
