import ActorRuntime
import Bridges
import Domain
import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// The HTTP edge of a node with an `http` listener (Hummingbird 2): partners' API under `/api`
/// (x-api-key), anonymous tracking under `/v1/analytics` (``AnalyticsRoutes``), the code pools under
/// `/v1/{campaignId}` (JWT, ``CodeRoutes``), `/health` for liveness and readiness (`/heartbeat` for liveness
/// alone), `/metrics` in Prometheus' format. Runs as a service of the node's group, so
/// SIGTERM stops it taking requests first.
enum EdgeServer {
    /// Largest request body accepted (bigger: 413).
    static let bodyLimit = 64 * 1024

    static func application(http: Topology.HTTP, pool: PostgresPool, publisher: AMQPPublisher, amqpURL: String, keySecret: String,
                            adminToken: String?, vault: CardVault, analytics: AnalyticsBuffer, rateLimits: Topology.RateLimits,
                            catalogSync: CatalogSync.Settings, paymentProvider: Topology.PaymentProvider?,
                            codeToken: SupremeToken?, codeUploads: PostgresPool, codeStore: (any ObjectStore)?,
                            otherNodes: [String], logger: Logger) -> some ApplicationProtocol {
        let router = Router(context: EdgeContext.self)
        let metrics = EdgeMetrics()
        let limits = EdgeRateLimits(rateLimits)
        let admin = AdminToken(token: adminToken, limits: limits)
        router.add(middleware: EdgeMiddleware(logger: logger, metrics: metrics, analytics: analytics, limits: limits))
        let desk = OrderDesk(pool: pool)

        router.get("/health") { _, _ -> Response in
            let down = try? await pool.withConnection { db in try NodeHeartbeat.down(otherNodes, on: db) }
            let database = down != nil
            let broker = publisher.isConnected, blocked = publisher.blocked
            let ready = database && broker
            // A broker that blocks publishing (a resource alarm) leaves the edge ready: accepted orders wait
            // in the outbox until it unblocks. So does another node that is down: their messages wait in the queues.
            var body: [String: JSONValue] = [
                "status": .string(ready && blocked == nil && down?.isEmpty != false ? "ok" : "degraded"),
                "database": .string(database ? "ok" : "unreachable"),
                "broker": .string(!broker ? "unreachable" : blocked.map { "blocked: \($0)" } ?? "ok"),
            ]
            if let down, !down.isEmpty { body["nodesDown"] = .object(down.mapValues { .string($0) }) }
            return EdgeJSON.response(ready ? .ok : .serviceUnavailable, .object(body))
        }

        // The reference's liveness probe, open like /health.
        router.get("/heartbeat") { _, _ -> Response in EdgeJSON.response(.ok, .object(["status": .string("ok")])) }

        let cluster = ClusterMetrics(pool: pool, amqpURL: amqpURL, publisher: publisher)
        router.get("/metrics") { _, _ -> Response in
            let text = metrics.render() + (await cluster.render())
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
        }

        let keys = APIKeyMiddleware(callers: CallerCache(registry: PartnerRegistry(pool: pool, keySecret: keySecret)), limits: limits)
        let api = router.group("/api").add(middleware: keys)
        api.post("/orders") { request, context -> Response in
            let caller = context.caller!
            let body: ByteBuffer
            do { body = try await request.body.collect(upTo: bodyLimit) } catch {
                throw EdgeError.tooLarge("the body is larger than \(bodyLimit) bytes")
            }
            let orderRequest: OrderRequest
            do throws(OrderRequest.Problem) { orderRequest = try OrderRequest.parse(Array(buffer: body)) } catch {
                throw error.kind == .malformed ? EdgeError.badRequest(error.description) : EdgeError.unprocessable(error.description)
            }
            do {
                let (order, created) = try await desk.accept(orderRequest, partner: caller.partnerID, correlationId: context.correlationID)
                if created {
                    logger.info("order accepted", metadata: ["correlationId": "\(context.correlationID)", "order": "\(order.id.lowercasedString)",
                                                             "partner": "\(caller.name)"])
                }
                return EdgeJSON.response(.accepted, try order.json(opening: vault))
            } catch let refusal as OrderDesk.Refusal {
                switch refusal {
                case .invalid: throw EdgeError.unprocessable(refusal.description)
                case .conflict: throw EdgeError.conflict(refusal.description)
                }
            }
        }
        api.get("/brand/getCatalog") { request, context -> Response in
            let partner = context.caller!.partnerID
            let catalog = try await pool.withConnection { db in try PartnerCatalog.json(partner: partner, on: db) }
            let body = catalog.jsonBytes, tag = PartnerCatalog.entityTag(of: body)
            if let wanted = request.headers[.ifNoneMatch], PartnerCatalog.matches(wanted, tag) {
                return Response(status: .notModified, headers: [.eTag: tag])
            }
            return Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8", .eTag: tag],
                            body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
        }
        api.get("/wallet") { request, context -> Response in
            let partner = context.caller!.partnerID
            let page: WalletStatement.Page
            do throws(WalletStatement.Problem) {
                page = try .parse(limit: request.uri.queryParameters.get("limit"), before: request.uri.queryParameters.get("before"))
            } catch { throw EdgeError.badRequest(error.description) }
            return EdgeJSON.response(.ok, try await pool.withConnection { db in try WalletStatement.json(partner: partner, page: page, on: db) })
        }
        api.get("/orders/:id") { _, context -> Response in
            let text = context.parameters.get("id") ?? ""
            guard let id = UUID(text: text), let order = try await desk.order(id, partner: context.caller!.partnerID) else {
                throw EdgeError.notFound("no order '\(text)'")
            }
            return EdgeJSON.response(.ok, try order.json(opening: vault))
        }

        // Admin: re-drive the orders of a date range that have no vendor order id and are not terminal.
        router.post("/api/orderqueue/queue-by-date-range") { request, context -> Response in
            try admin.check(request, context: context)
            let body = try await request.body.collect(upTo: bodyLimit)
            guard let json = try? JSONValue(parsing: Array(buffer: body)) else { throw EdgeError.badRequest("the body is not valid JSON") }
            func date(_ key: String) throws -> Date {
                guard case .string(let text)? = json[key] else { throw EdgeError.badRequest("\(key): is required (an ISO 8601 time)") }
                guard let d = ISO8601DateFormatter().date(from: text) else { throw EdgeError.unprocessable("\(key): '\(text)' is not an ISO 8601 time") }
                return d
            }
            let from = try date("from"), to = try date("to")
            guard from < to else { throw EdgeError.unprocessable("to: must be after from") }
            let queued = try await pool.transaction { db in try SagaJobs.redrive(from: from, to: to, on: db) }
            logger.info("orders re-driven by an admin", metadata: ["count": "\(queued)"])
            return EdgeJSON.response(.accepted, .object(["queued": .number(Double(queued))]))
        }

        // Admin: sync the vendor's catalog now, within the vendor's limits (202 with when, or 429).
        router.post("/api/brand/sync-catalog") { request, context -> Response in
            try admin.check(request, context: context)
            switch try await pool.transaction({ db in try CatalogSync.trigger(catalogSync, on: db) }) {
            case .accepted(let runsAt, let running):
                logger.info("catalog sync asked for by an admin", metadata: ["running": "\(running != nil)"])
                return EdgeJSON.response(.accepted, .object([
                    "job": .string(CatalogSync.jobName), "runsAt": .string(Timestamp.format(runsAt)),
                    "status": .string(running == nil ? "requested" : "running"),
                ]))
            case .limited(let until):
                let seconds = max(1, Int(until.timeIntervalSinceNow.rounded(.up)))
                throw EdgeError.tooManyRequests("the vendor's catalog limits allow the next sync at \(Timestamp.format(until))", retryAfter: seconds)
            }
        }

        PaymentRoutes.add(to: router, keys: keys, provider: paymentProvider, pool: pool, limits: limits, logger: logger)
        AnalyticsRoutes.add(to: router, buffer: analytics, pool: pool, admin: admin)
        CodeRoutes.add(to: router, token: codeToken, store: codeStore, pool: pool, uploads: codeUploads, limits: limits, logger: logger)

        return Application(router: router, configuration: .init(address: .hostname(http.host, port: http.port), serverName: "troupe"),
                           logger: logger)
    }
}
