import ActorRuntime
import Bridges
import Domain
import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// Inventory's code pools over HTTP, the reference's code-service API under `/v1/{campaignId}` (see ``CodePool``),
/// behind ``SupremeTokenMiddleware``: upload (a file key in the object store, or the CSV as the body), reserve,
/// assign, release, count. Errors carry the reference's codes (`invalidType`, `invalidCount`, `emptyCodes`,
/// `invalidFileKey`, `supremeUserRequired`).
enum CodeRoutes {
    /// Largest JSON body (assign and release lists, file keys).
    static let jsonLimit = 1 << 20
    /// Most codes one assign or release names.
    static let maxCodes = 10_000

    /// - Parameter uploads: the connections uploads write on (``CodeUpload/writers`` of them, apart from `pool`).
    static func add(to router: Router<EdgeContext>, token: SupremeToken?, store: (any ObjectStore)?, pool: PostgresPool,
                    uploads: PostgresPool, limits: EdgeRateLimits, logger: Logger) {
        let pools = router.group("/v1/:campaignId").add(middleware: SupremeTokenMiddleware(token: token, limits: limits))

        pools.post("/codes") { request, context -> Response in
            let campaign = try Self.campaign(context)
            let upload: CodeUpload.Outcome
            if request.headers[.contentType]?.lowercased().hasPrefix("text/csv") == true {
                let type = try Self.type(request.uri.queryParameters.get("type"))
                upload = try await CodeUpload(campaign: campaign, type: type, pool: uploads).run(request.body.map { $0.readableBytesView })
            } else {
                let json = try await Self.json(request)
                guard case .string(let text)? = json["fileKey"] else {
                    throw Self.invalid("invalidFileKey", "fileKey: is required, a string (or send the CSV as text/csv with ?type=)")
                }
                let key: CodeFileKey
                do throws(CodeFileKey.Problem) { key = try CodeFileKey(text, campaign: campaign) } catch {
                    switch error {
                    case .invalidFileKey(let message): throw Self.invalid("invalidFileKey", message)
                    case .invalidType(let message): throw Self.invalid("invalidType", message)
                    }
                }
                guard let store else { throw EdgeError.notFound("no object store is configured (topology.json: inventory.codes.objectStore)") }
                do {
                    upload = try await CodeUpload(campaign: campaign, type: key.type, pool: uploads).run(try await store.read(key.key))
                } catch let error as ObjectStoreError {
                    switch error {
                    case .notFound: throw EdgeError.notFound("fileKey: \(error)")
                    case .invalidKey: throw Self.invalid("invalidFileKey", "fileKey: \(error) (it leads outside the store)")
                    case .unreadable: throw EdgeError.unprocessable("fileKey: \(error)")
                    }
                }
            }
            logger.info("codes uploaded", metadata: ["correlationId": "\(context.correlationID)", "campaign": "\(campaign)",
                                                     "in": "\(upload.count.read)", "inserted": "\(upload.count.inserted)", "badRows": "\(upload.badRows)"])
            return EdgeJSON.response(.ok, .object([
                "count": .object(["in": Self.number(upload.count.read), "inserted": Self.number(upload.count.inserted),
                                  "updated": Self.number(upload.count.updated)]),
                "badRows": Self.number(upload.badRows),
            ]))
        }

        pools.get("/reserve") { request, context -> Response in
            let campaign = try Self.campaign(context)
            let type = try Self.type(request.uri.queryParameters.get("type"))
            let text = request.uri.queryParameters.get("count") ?? ""
            guard let count = Int(text), (1...CodePool.maxReserve).contains(count) else {
                throw Self.invalid("invalidCount", "count: must be a whole number from 1 to \(CodePool.maxReserve), not '\(text)'")
            }
            let reservation = try await pool.withConnection { db in try CodePool.reserve(campaign: campaign, type: type, count: count, on: db) }
            return EdgeJSON.response(.ok, .object([
                "reserveId": .string(reservation.reserveId.lowercasedString), "codes": .array(reservation.codes.map(JSONValue.string)),
                "count": Self.number(reservation.codes.count), "requested": Self.number(count),
                // The pool had fewer available codes than asked for.
                "poolRanShort": .bool(reservation.codes.count < count),
            ]))
        }

        for assigning in [true, false] {
            pools.post(assigning ? "/assign" : "/release") { request, context -> Response in
                let campaign = try Self.campaign(context)
                let json = try await Self.json(request)
                let codes = try Self.codes(in: json)
                // Optional: only the codes this reservation holds (one that expired and went to another is not its).
                var reserveId: UUID?
                if let value = json["reserveId"], value != .null {
                    guard case .string(let text) = value, let id = UUID(text: text) else { throw EdgeError.badRequest("reserveId: must be a reserve id (a UUID)") }
                    reserveId = id
                }
                let updated = try await pool.withConnection { [reserveId] db in
                    assigning ? try CodePool.assign(campaign: campaign, codes: codes, reserveId: reserveId, on: db)
                        : try CodePool.release(campaign: campaign, codes: codes, reserveId: reserveId, on: db)
                }
                return EdgeJSON.response(.ok, .object(["count": .object(["in": Self.number(codes.count), "updated": Self.number(updated)])]))
            }
        }

        pools.get("/codes/count") { request, context -> Response in
            let campaign = try Self.campaign(context)
            let type = try Self.type(request.uri.queryParameters.get("type"))
            var status: CodePool.Status?
            if let text = request.uri.queryParameters.get("status") {
                guard let s = CodePool.Status(rawValue: text) else {
                    throw Self.invalid("invalidStatus", "status: '\(text)' is not one of available, reserved, assigned")
                }
                status = s
            }
            let counts = try await pool.withConnection { db in try CodePool.count(campaign: campaign, type: type, on: db) }
            var answer: [String: JSONValue] = [:]
            for (s, n) in counts where status == nil || status == s { answer[s.rawValue] = Self.number(n) }
            return EdgeJSON.response(.ok, .object(answer))
        }
    }

    static func invalid(_ code: String, _ message: String) -> EdgeError { EdgeError(status: .badRequest, code: code, message: message) }

    static func number(_ n: Int) -> JSONValue { .number(Double(n)) }

    static func campaign(_ context: EdgeContext) throws -> String {
        let id = context.parameters.get("campaignId") ?? ""
        guard CodeFileKey.isCampaign(id) else { throw EdgeError.badRequest("campaignId: must be 1 to 64 letters, digits, '_' or '-'") }
        return id
    }

    static func type(_ text: String?) throws -> CodePool.CodeType {
        guard let text, let type = CodePool.CodeType(rawValue: text) else {
            throw invalid("invalidType", "type: must be one of tm, external, not '\(text ?? "")'")
        }
        return type
    }

    static func json(_ request: Request) async throws -> JSONValue {
        let body: ByteBuffer
        do { body = try await request.body.collect(upTo: jsonLimit) } catch { throw EdgeError.tooLarge("the body is larger than \(jsonLimit) bytes") }
        guard let json = try? JSONValue(parsing: Array(buffer: body)) else { throw EdgeError.badRequest("the body is not valid JSON") }
        return json
    }

    /// The `codes` list of an assign or release: a non-empty array of codes, at most ``maxCodes``.
    static func codes(in json: JSONValue) throws -> [String] {
        guard case .array(let items)? = json["codes"], !items.isEmpty else {
            throw invalid("emptyCodes", "codes: must be a non-empty array of codes")
        }
        guard items.count <= maxCodes else { throw EdgeError.badRequest("codes: at most \(maxCodes) at once, not \(items.count)") }
        return try items.enumerated().map { i, item in
            guard case .string(let code) = item, CodePool.isValid(code) else {
                throw EdgeError.badRequest("codes[\(i)]: must be a code, a string of 1 to \(CodePool.maxCodeLength) bytes without NUL")
            }
            return code
        }
    }
}
