import ActorRuntime
import Foundation
import HTTPTypes
import Hummingbird
import Domain
import Logging

/// The first middleware of every request: gives it a correlation id (the caller's `x-correlation-id`
/// when it is sane, else a new one) and echoes it, turns every error into the brief's JSON error (an
/// unexpected one into a 500 that says nothing internal, logged with the id), counts and times each
/// request for `/metrics`, and hands Analytics its request log (never the body, key or query).
struct EdgeMiddleware: RouterMiddleware {
    typealias Context = EdgeContext
    static let correlationHeader = HTTPField.Name("x-correlation-id")!
    let logger: Logger
    let metrics: EdgeMetrics
    let analytics: AnalyticsBuffer?
    /// Limits anonymous routes (`/v1/analytics/...`) per client IP; the other routes limit themselves by
    /// credential (partners' by API key, top-ups under `/v1/payments` too; the provider's signed webhooks by
    /// their bad signatures per IP; the code pools by JWT subject). `/health`, `/heartbeat` and `/metrics` are not
    /// limited: monitoring must not be turned away.
    let limits: EdgeRateLimits

    /// Whether a path is an anonymous route, limited per client IP.
    static func isAnonymous(_ path: String) -> Bool { path.hasPrefix("/v1/analytics/") }

    func handle(_ request: Request, context: EdgeContext, next: @concurrent (Request, EdgeContext) async throws -> Response) async throws -> Response {
        var context = context
        let start = ContinuousClock.now, received = Date()
        let id = request.headers[Self.correlationHeader].flatMap(Self.acceptable) ?? "req-" + UUID.v7().lowercasedString
        context.correlationID = id
        var response: Response
        do {
            if Self.isAnonymous(request.uri.path) { try limits.take(.anonymous, client: context.clientIP) }
            response = try await next(request, context)
        } catch let error as EdgeError {
            response = try error.response(from: request, context: context)
        } catch let error as HTTPResponseError {
            // Hummingbird's own (no such route, method not allowed, body too large)
            let code = error.status == .notFound ? "not_found" : error.status == .contentTooLarge ? "payload_too_large" : "bad_request"
            response = try EdgeError(status: error.status, code: code, message: error.status.reasonPhrase).response(from: request, context: context)
        } catch {
            logger.error("request failed", metadata: ["correlationId": "\(id)", "path": "\(request.uri.path)", "reason": "\(error)"])
            response = try EdgeError.internalError.response(from: request, context: context)
        }
        response.headers[Self.correlationHeader] = id
        // by route template (`/api/orders/{id}`), so ids do not make a series each; unmatched paths as one
        let route = context.endpointPath ?? "unmatched"
        let seconds = (ContinuousClock.now - start).inSeconds
        metrics.record(method: request.method.rawValue, route: route, status: response.status.code, seconds: seconds)
        analytics?.record(RequestLog(receivedAt: received, method: request.method.rawValue, route: route, status: response.status.code,
                                     durationMilliseconds: seconds * 1000, partner: context.facts.partner.withLock { $0 }, correlationId: id))
        return response
    }

    /// A caller's correlation id, if it is 1 to 128 visible ASCII characters.
    static func acceptable(_ text: String) -> String? {
        guard !text.isEmpty, text.utf8.count <= 128, text.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else { return nil }
        return text
    }
}

/// Under `/api`: the partner is the owner of the `x-api-key` (checked against its stored HMAC hash,
/// remembered for a while); a missing or unknown key is a 401. Each key has its rate limit; a client
/// that sends keys that are not valid is limited per IP, and text that is not of a key's shape is refused
/// without a database lookup.
struct APIKeyMiddleware: RouterMiddleware {
    typealias Context = EdgeContext
    static let header = HTTPField.Name("x-api-key")!
    let callers: CallerCache
    let limits: EdgeRateLimits

    func handle(_ request: Request, context: EdgeContext, next: @concurrent (Request, EdgeContext) async throws -> Response) async throws -> Response {
        guard let key = request.headers[Self.header], !key.isEmpty else { throw EdgeError.unauthorized("the x-api-key header is missing") }
        // Taken before the lookup (given back when the key is valid), so concurrent guesses are all counted.
        try limits.take(.badCredentials, client: context.clientIP)
        guard APIKey.isWellFormed(key), let caller = try await callers.caller(forKey: key) else {
            throw EdgeError.unauthorized("the API key is not valid")
        }
        limits.giveBack(.badCredentials, client: context.clientIP)
        try limits.take(.partner, client: caller.partnerID.lowercasedString + "|" + APIKey(text: key).prefix)
        var context = context
        context.caller = caller
        return try await next(request, context)
    }
}
