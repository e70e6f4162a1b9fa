import Domain
import HTTPTypes
import Hummingbird

/// The admin endpoints' check: `x-admin-token` equal (in constant time) to topology.json's
/// `security.adminToken`; without a configured token the admin API is off (404). The token has its rate
/// limit; a client sending wrong tokens is limited per IP.
struct AdminToken: Sendable {
    static let header = HTTPField.Name("x-admin-token")!
    let token: String?
    let limits: EdgeRateLimits

    func check(_ request: Request, context: EdgeContext) throws {
        guard let token else { throw EdgeError.notFound("the admin API is off (topology.json: security.adminToken)") }
        try limits.take(.badCredentials, client: context.clientIP)          // given back when the token is right
        let given = request.headers[Self.header] ?? ""
        guard APIKey.constantTimeEqual(Array(given.utf8), Array(token.utf8)) else {
            throw EdgeError.unauthorized("the admin token is not valid")
        }
        limits.giveBack(.badCredentials, client: context.clientIP)
        try limits.take(.admin, client: "token")
    }
}
