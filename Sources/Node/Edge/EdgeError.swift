import ActorRuntime
import Hummingbird

/// An HTTP error as the brief says: `{"error": {"code": "...", "message": "..."}}` with its status.
/// Messages say what was wrong with the request; internal details (stack traces, SQL) never go out.
struct EdgeError: HTTPResponseError {
    let status: HTTPResponse.Status
    let code: String
    let message: String
    /// Seconds the client should wait before trying again (`Retry-After`), for 429 and 503.
    var retryAfter: Int? = nil

    static func badRequest(_ message: String) -> EdgeError { EdgeError(status: .badRequest, code: "bad_request", message: message) }
    static func unauthorized(_ message: String) -> EdgeError { EdgeError(status: .unauthorized, code: "unauthorized", message: message) }
    static func notFound(_ message: String) -> EdgeError { EdgeError(status: .notFound, code: "not_found", message: message) }
    static func conflict(_ message: String) -> EdgeError { EdgeError(status: .conflict, code: "conflict", message: message) }
    static func tooLarge(_ message: String) -> EdgeError { EdgeError(status: .contentTooLarge, code: "payload_too_large", message: message) }
    static func unprocessable(_ message: String) -> EdgeError { EdgeError(status: .unprocessableContent, code: "unprocessable", message: message) }
    static func tooManyRequests(_ message: String, retryAfter: Int) -> EdgeError {
        EdgeError(status: .tooManyRequests, code: "rate_limited", message: message, retryAfter: retryAfter)
    }
    static func unavailable(_ message: String, retryAfter: Int) -> EdgeError {
        EdgeError(status: .serviceUnavailable, code: "unavailable", message: message, retryAfter: retryAfter)
    }
    static let internalError = EdgeError(status: .internalServerError, code: "internal", message: "internal error; the correlation id identifies it in the logs")

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = EdgeJSON.response(status, .object(["error": .object(["code": .string(code), "message": .string(message)])]))
        if let retryAfter { response.headers[.retryAfter] = String(retryAfter) }
        return response
    }
}

/// JSON responses from ActorRuntime's writer.
enum EdgeJSON {
    static func response(_ status: HTTPResponse.Status, _ json: JSONValue) -> Response {
        Response(status: status, headers: [.contentType: "application/json; charset=utf-8"],
                 body: ResponseBody(byteBuffer: ByteBuffer(bytes: json.jsonBytes)))
    }
}
