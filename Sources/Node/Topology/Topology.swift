import Foundation
import ActorRuntime
import Bridges
import Domain

/// What `topology.json` describes: where the broker and the database are, and which node hosts which
/// components. Decoded and validated by ``TopologyLoader``; every key is documented in
/// `topology.schema.json`.
struct Topology: Sendable, Equatable {
    struct Broker: Sendable, Equatable {
        /// `amqp://user:password@host:port/vhost`.
        var url: String
        /// The durable topic exchange of the wire contract.
        var exchange = "troupe.events"
        /// `classic` or `quorum` queues.
        var queueType = QueueType.classic
        /// How long dead letters are kept (the dead queues' message TTL).
        var deadLetterRetention: Duration = .seconds(14 * 86400)
        /// Redeliveries of a failing message: attempts in all, and the delays between them (retry queues).
        var retry = RetryPolicy(maxAttempts: 5, initialDelay: .seconds(1), maxDelay: .seconds(60), jitter: 0)
        /// A message that comes back unsettled this many times (it crashed or stopped its consumer each time) is
        /// dead-lettered instead of handled again.
        var quarantineAfter = 3

        /// The wire contract these settings describe.
        var wire: WireTopology {
            WireTopology(exchange: exchange, queueType: queueType,
                         deadRetention: deadLetterRetention, retry: retry)
        }
    }

    typealias QueueType = WireTopology.QueueType

    /// What `troupe up` does with a node that exceeds its restart intensity (more than `maxRestarts` abnormal
    /// exits within `within`): hold it (retried after `holdFor`, doubling up to `maxHold`) while the others run
    /// on, or stop every node (OTP's escalation).
    struct NodeFailure: Sendable, Equatable {
        enum Policy: String, Sendable, Equatable { case hold, stopAll }
        var policy = Policy.hold
        var maxRestarts = 5
        var within: Duration = .seconds(60)
        var holdFor: Duration = .seconds(60)
        var maxHold: Duration = .seconds(900)
    }

    struct Database: Sendable, Equatable {
        /// `postgresql://user:password@host:port/database`.
        var url: String
        /// The schema Troupe's tables live in (created when missing); nil: the server's default (`public`).
        /// Lets several Troupes share one database.
        var schema: String?

        /// A pool on this database and schema.
        func pool(size: Int, applicationName: String) -> PostgresPool {
            PostgresPool(.init(url: url, size: size, applicationName: applicationName, schema: schema))
        }

        /// Runs Troupe's and the domain's migrations, creating the schema first when one is set.
        @discardableResult
        func migrate(_ pool: PostgresPool) async throws -> [Migration] {
            if let schema {                                      // checked by the loader: lowercase letters, digits, _
                try await pool.transaction { db in
                    try db.query("SELECT pg_advisory_xact_lock(hashtext('troupe.create-schema'))")
                    try db.query("CREATE SCHEMA IF NOT EXISTS \(schema)")
                }
            }
            return try await Migrator(pool: pool, migrations: try DomainSchema.allMigrations()).run()
        }
    }

    struct HTTP: Sendable, Equatable {
        var host = "127.0.0.1"
        var port: Int
    }

    struct Hosted: Sendable, Equatable {
        var component: Component
        /// Competing consumers of the component's queue on this node.
        var instances = 1
        /// Bounded mailbox of each instance; also its AMQP prefetch.
        var mailboxCapacity = 256
    }

    struct Node: Sendable, Equatable {
        var name: String
        var components: [Hosted]
        /// The HTTP edge, on the nodes that serve it.
        var http: HTTP?
        /// PostgreSQL connections of the node: its consumers' transactions, the outbox relay and the edge
        /// share them. Four by default, not eight: with the saga and the edge on the same cores, fewer saga
        /// transactions at once leave the edge's batches less to wait behind (accepted median 1,441 vs
        /// 1,186/s, p99 65 vs 86 ms, six alternated runs each), and the saga completed as many (README).
        var databaseConnections = 4
    }

    struct Security: Sendable, Equatable {
        /// The HMAC-SHA256 secret partners' API keys are hashed with. Changing it invalidates every key.
        /// Needed by the commands that handle keys (the HTTP edge, `partner add`), not by every node.
        var apiKeySecret: String?
        /// The token of the admin endpoints (`x-admin-token`); without one they are off (404).
        var adminToken: String?
        /// What seals card codes and PINs at rest, from its key (32 bytes, base64 in `security.cardKey`;
        /// `TROUPE_CARD_KEY` overrides it). Without one, the public development key, which
        /// ``requireCardVault(databaseURL:file:)`` allows only for a database on loopback.
        var cardVault: CardVault?

        /// The vault a node that stores or shows cards uses: the development key is refused for a database
        /// that is not on loopback, where real cards would be sealed with a key anyone can read.
        func requireCardVault(databaseURL: String, file: String) throws -> CardVault {
            if cardVault == nil, let host = URLComponents(string: databaseURL)?.host,
               !["127.0.0.1", "localhost", "::1", "[::1]"].contains(host.lowercased()) {
                throw TopologyError(file: file, path: "security.cardKey", message: "is required for a database that is not on loopback (\(host)): "
                                    + "card codes are sealed with it (or set TROUPE_CARD_KEY; make one with: openssl rand -base64 32)")
            }
            return cardVault ?? .development
        }

        /// The secret, or an error naming where to set it.
        func requireAPIKeySecret(file: String) throws -> String {
            guard let apiKeySecret else {
                throw TopologyError(file: file, path: "security.apiKeySecret",
                                    message: "is needed to handle API keys (or set TROUPE_API_KEY_SECRET)")
            }
            return apiKeySecret
        }
    }

    /// The gift-card vendor (Bamboo's API): where, and how the saga calls it.
    struct Vendor: Sendable, Equatable {
        /// Base URL, e.g. `http://127.0.0.1:8090`.
        var url: String
        /// Basic auth credentials.
        var clientId: String
        var clientSecret: String
        var accountId = 1
        /// Per call.
        var timeout: Duration = .seconds(10)
        /// Consecutive failed checkouts that open the circuit breaker, and how long it stays open.
        var breakerFailures = 5
        var breakerCoolDown: Duration = .seconds(30)
        /// How long after a checkout without a sure answer the vendor's "no such order" is believed.
        var notFoundGrace: Duration = .seconds(120)
        /// When set, `troupe up` also runs `troupe-vendor-sim` on the URL's port with these knobs.
        var simulator: Simulator?

        struct Simulator: Sendable, Equatable {
            var latency: Duration = .zero
            var failureRate = 0.0
            var processing: Duration = .zero
            var catalogLimit = 2
        }
    }

    /// The payment provider wallets are topped up through (Stripe's API shape).
    struct PaymentProvider: Sendable, Equatable {
        /// Base URL, e.g. `http://127.0.0.1:8091`.
        var url: String
        /// Sent as `Authorization: Bearer` on every call.
        var secretKey: String
        /// What the provider signs its webhooks with (`Stripe-Signature`).
        var webhookSecret: String
        /// How far a webhook's signed time may be from ours.
        var tolerance: Duration = .seconds(300)
        /// Per call.
        var timeout: Duration = .seconds(10)
        /// The wallets' currency: the intents' currency.
        var currency = "USD"
        /// When set, `troupe up` also runs `troupe-payment-sim` on the URL's port, its webhooks going to the
        /// first edge node.
        var simulator: Simulator?

        struct Simulator: Sendable, Equatable {
            /// Settle each intent this long after it was created; nil: only on command.
            var autoConfirm: Duration?
            var autoSucceeds = true
        }
    }

    /// The operations jobs: admin alerts every 10 minutes (on nodes hosting Notification) and the wallet
    /// consistency check every hour (on nodes hosting Payment). Off without an `alerts` section.
    struct Alerts: Sendable, Equatable {
        var thresholds = AdminAlerts.Thresholds()
        var book = AlertBook()
        var every: Duration = .seconds(600)
        var consistencyEvery: Duration = .seconds(3600)
    }

    /// BrandSync's schedule and the vendor's limits on its catalog calls.
    struct BrandSync: Sendable, Equatable {
        /// How often the catalog is synced (once per cluster).
        var every: Duration = .seconds(1800)
        var sync = CatalogSync.Settings()
    }

    /// Inventory's settings.
    struct Inventory: Sendable, Equatable {
        /// How long a reservation holds its units unless confirmed (a reservation whose order was debited
        /// or placed does not expire: see `SagaJobs.expireReservations`).
        var reservationTTL = Domain.Inventory.reservationTTL
        /// The code pools' API (`/v1/{campaignId}/...`).
        var codes = Codes()
    }

    /// The code pools' API: the key its JWTs are verified with (without one the API is off: 404) and the object
    /// store uploads are read from.
    struct Codes: Sendable, Equatable {
        /// How tokens are signed: HS256 with a shared secret, or RS256 (verified with the public key's PEM).
        enum Key: Sendable, Equatable {
            case hs256(secret: String)
            case rs256(publicKeyPEM: String)
        }

        var key: Key?
        /// The directory of the ``DirectoryObjectStore`` (absolute: a relative one is resolved against the
        /// topology file's directory); nil: uploads by file key are off, CSV bodies still work.
        var objectStoreDirectory: String?
    }

    /// Requests per minute each client may send to an edge node (a token bucket per client, refilled
    /// evenly, as deep as the minute's allowance), by kind of route: anonymous per IP (the reference's
    /// tracking limit, 100/min), partner routes per API key, admin routes per token.
    struct RateLimits: Sendable, Equatable {
        var anonymousPerMinute = 100
        var partnerPerMinute = 600
        var adminPerMinute = 60
        /// The code pools' routes, per token subject.
        var codesPerMinute = 6_000
    }

    /// Notification's channels and delivery rules.
    struct Notification: Sendable, Equatable {
        /// Email goes out only when SMTP is configured.
        var smtp: SMTPClient.Configuration?
        /// Where `alert.raised` is emailed.
        var alertEmail: String?
        /// The delay before each retry of a failed delivery (doubling, ±20 % jitter)...
        var retry = RetryPolicy(maxAttempts: 1_000_000, initialDelay: .seconds(10), maxDelay: .seconds(3600), jitter: 0.2)
        /// ...for this long after the event; then the delivery is `failed` and an alert raised.
        var retryFor: Duration = .seconds(86_400)
        /// One webhook request's limit.
        var webhookTimeout: Duration = .seconds(10)
        /// Deliveries a node sends at once.
        var concurrency = 64
    }

    var broker: Broker
    var database: Database
    var security: Security
    var vendor: Vendor?
    var inventory = Inventory()
    var brandSync = BrandSync()
    var paymentProvider: PaymentProvider?
    var alerts: Alerts?
    /// The edge's analytics buffer: rows at most, rows per flush, time between flushes.
    var analytics = AnalyticsBuffer.Configuration()
    var rateLimits = RateLimits()
    var notification = Notification()
    var nodeFailure = NodeFailure()
    var nodes: [Node]

    /// A few lines for operators; passwords in URLs are masked.
    func summary(path: String) -> String {
        var lines = ["Topology \(path): \(nodes.count) node(s)",
                     "  broker   \(Redact.url(broker.url)) (exchange \(broker.exchange), \(broker.queueType.rawValue) queues)",
                     "  database \(Redact.url(database.url))",
                     "  on node failure: " + (nodeFailure.policy == .stopAll ? "stop every node" : "hold the node (\(nodeFailure.holdFor) doubling to \(nodeFailure.maxHold))")
                        + " after \(nodeFailure.maxRestarts) restarts within \(nodeFailure.within)"]
        for node in nodes {
            var parts = node.components.map { "\($0.component.rawValue)×\($0.instances)" }
            if let http = node.http { parts.insert("http \(http.host):\(http.port)", at: 0) }
            lines.append("  node \(node.name): \(parts.isEmpty ? "(nothing)" : parts.joined(separator: ", "))"
                         + " (\(node.databaseConnections) database connections)")
        }
        return lines.joined(separator: "\n")
    }
}
