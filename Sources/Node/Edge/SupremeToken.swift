import ActorRuntime
import Foundation
import HTTPTypes
import Hummingbird
import JWTKit

/// The code pools' credential, as the reference's code-service has it: `Authorization: Bearer <JWT>`, signed with
/// the key of topology.json's `inventory.codes.jwt` (HS256 secret or RS256 public key, verified by vapor's
/// jwt-kit), not expired (`exp` is required), with the claim `isSupreme: true`.
struct SupremeToken: Sendable {
    /// The claims read; others are ignored.
    struct Claims: JWTPayload {
        var sub: SubjectClaim?
        var exp: ExpirationClaim
        var iat: IssuedAtClaim?
        /// Only the JSON `true` is supreme; a string or a number is not (the token is otherwise valid).
        var isSupreme: Bool?

        init(sub: SubjectClaim?, exp: ExpirationClaim, iat: IssuedAtClaim?, isSupreme: Bool?) {
            self.sub = sub
            self.exp = exp
            self.iat = iat
            self.isSupreme = isSupreme
        }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            sub = try c.decodeIfPresent(SubjectClaim.self, forKey: .sub)
            exp = try c.decode(ExpirationClaim.self, forKey: .exp)
            iat = try c.decodeIfPresent(IssuedAtClaim.self, forKey: .iat)
            isSupreme = try? c.decodeIfPresent(Bool.self, forKey: .isSupreme)
        }

        func verify(using algorithm: some JWTAlgorithm) async throws { try exp.verifyNotExpired() }
    }

    private let keys: JWTKeyCollection

    /// The verifier of `key`.
    static func verifier(_ key: Topology.Codes.Key) async throws -> SupremeToken {
        let keys = JWTKeyCollection()
        switch key {
        case .hs256(let secret): await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        case .rs256(let pem): await keys.add(rsa: try Insecure.RSA.PublicKey(pem: pem), digestAlgorithm: .sha256)
        }
        return SupremeToken(keys: keys)
    }

    /// Whether `pem` holds an RSA public key jwt-kit can verify with.
    static func isRSAPublicKey(_ pem: String) -> Bool { (try? Insecure.RSA.PublicKey(pem: pem)) != nil }

    /// The token's claims when it is signed with the key and not expired; why not otherwise.
    func claims(of token: String) async -> Result<Claims, Refusal> {
        do { return .success(try await keys.verify(token, as: Claims.self)) } catch let error as JWTError {
            switch error.errorType {
            case .claimVerificationFailure: return .failure(.expired)
            case .signatureVerificationFailed: return .failure(.badSignature)
            default: return .failure(.malformed)
            }
        } catch {
            return .failure(.malformed)
        }
    }

    enum Refusal: Error {
        case malformed, badSignature, expired

        var message: String {
            switch self {
            case .malformed: "the bearer token is not a JWT with an exp claim that Troupe can read"
            case .badSignature: "the bearer token is not signed with the code pools' key"
            case .expired: "the bearer token has expired"
            }
        }
    }

    /// A token for `subject`, valid for `lifetime`, signed with an HS256 secret or an RSA private key (PEM): what
    /// `troupe token` prints.
    static func mint(subject: String, supreme: Bool, lifetime: Duration, hs256Secret: String? = nil, rsaPrivateKeyPEM: String? = nil) async throws -> String {
        let keys = JWTKeyCollection()
        if let hs256Secret {
            await keys.add(hmac: HMACKey(from: hs256Secret), digestAlgorithm: .sha256)
        } else if let rsaPrivateKeyPEM {
            await keys.add(rsa: try Insecure.RSA.PrivateKey(pem: rsaPrivateKeyPEM), digestAlgorithm: .sha256)
        }
        let now = Date()
        return try await keys.sign(Claims(sub: SubjectClaim(value: subject), exp: ExpirationClaim(value: now + lifetime.inSeconds),
                                          iat: IssuedAtClaim(value: now), isSupreme: supreme))
    }
}

/// In front of the code pools' routes: the ``SupremeToken`` check (401 `unauthorized` for a missing, malformed,
/// foreign or expired token; 401 `supremeUserRequired` for a valid token without `isSupreme: true`), the bad
/// credentials' limit per client IP (taken before the check, given back when the token is valid) and the
/// routes' limit per token subject. Without a configured key the routes answer 404.
struct SupremeTokenMiddleware: RouterMiddleware {
    typealias Context = EdgeContext
    let token: SupremeToken?
    let limits: EdgeRateLimits

    func handle(_ request: Request, context: EdgeContext, next: @concurrent (Request, EdgeContext) async throws -> Response) async throws -> Response {
        guard let token else { throw EdgeError.notFound("the code pools are off (topology.json: inventory.codes.jwt)") }
        guard let header = request.headers[.authorization], header.count > 7, header.prefix(7).lowercased() == "bearer " else {
            throw EdgeError.unauthorized("the Authorization header must be: Bearer <JWT>")
        }
        try limits.take(.badCredentials, client: context.clientIP)
        let claims: SupremeToken.Claims
        switch await token.claims(of: String(header.dropFirst(7))) {
        case .success(let c): claims = c
        case .failure(let refusal): throw EdgeError.unauthorized(refusal.message)
        }
        limits.giveBack(.badCredentials, client: context.clientIP)
        guard claims.isSupreme == true else {
            throw EdgeError(status: .unauthorized, code: "supremeUserRequired", message: "the code pools need a token with isSupreme: true")
        }
        try limits.take(.codes, client: claims.sub?.value ?? "")
        return try await next(request, context)
    }
}
