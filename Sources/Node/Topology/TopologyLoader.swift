import Bridges
import ActorRuntime
import Domain
import Foundation

/// Loads `topology.json`: reads the file, decodes and validates it with errors naming the JSON path,
/// then applies the environment overrides (`TROUPE_AMQP_URL`, `TROUPE_DATABASE_URL`, the secrets,
/// `TROUPE_SMTP_URL` and `TROUPE_SMTP_PASSWORD`), in this one place.
enum TopologyLoader {
    static func load(path: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Topology {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            let reason = FileManager.default.fileExists(atPath: path) ? "cannot be read" : "no such file"
            throw TopologyError(file: path, path: "", message: "\(reason) (use --topology PATH)")
        }
        var topology = try decode(data, file: path)
        var brokerSource = "broker.url", databaseSource = "database.url"
        if let url = environment["TROUPE_AMQP_URL"], !url.isEmpty { topology.broker.url = url; brokerSource = "TROUPE_AMQP_URL" }
        if let url = environment["TROUPE_DATABASE_URL"], !url.isEmpty { topology.database.url = url; databaseSource = "TROUPE_DATABASE_URL" }
        if let token = environment["TROUPE_ADMIN_TOKEN"], !token.isEmpty {
            guard token.utf8.count >= 16 else { throw TopologyError(file: path, path: "TROUPE_ADMIN_TOKEN", message: "must be at least 16 characters") }
            topology.security.adminToken = token
        }
        if let secret = environment["TROUPE_API_KEY_SECRET"], !secret.isEmpty {
            guard secret.utf8.count >= 16 else {
                throw TopologyError(file: path, path: "TROUPE_API_KEY_SECRET", message: "must be at least 16 characters")
            }
            topology.security.apiKeySecret = secret
        }
        if let secret = environment["TROUPE_CODES_JWT_SECRET"], !secret.isEmpty {
            guard secret.utf8.count >= 32 else { throw TopologyError(file: path, path: "TROUPE_CODES_JWT_SECRET", message: "must be at least 32 characters") }
            topology.inventory.codes.key = .hs256(secret: secret)
        }
        if let key = environment["TROUPE_CARD_KEY"], !key.isEmpty {
            do { topology.security.cardVault = try CardVault(base64: key) } catch {
                throw TopologyError(file: path, path: "TROUPE_CARD_KEY", message: error.description)
            }
        }
        // Where email goes, and its password, kept out of the file (they apply when notification.smtp is set).
        if topology.notification.smtp != nil {
            if let url = environment["TROUPE_SMTP_URL"], !url.isEmpty {
                try validateURL(url, schemes: ["smtp", "smtps"], file: path, at: "TROUPE_SMTP_URL")
                topology.notification.smtp?.url = url
            }
            if let password = environment["TROUPE_SMTP_PASSWORD"], !password.isEmpty { topology.notification.smtp?.password = password }
        }
        try validateURL(topology.broker.url, schemes: ["amqp", "amqps"], file: path, at: brokerSource)
        try validateURL(topology.database.url, schemes: ["postgres", "postgresql"], file: path, at: databaseSource)
        return topology
    }

    static func decode(_ data: Data, file: String) throws -> Topology {
        let fail = { (path: String, message: String) in TopologyError(file: file, path: path, message: message) }
        let root: JSONValue
        do { root = try JSONValue(parsing: data) } catch { throw fail("", "is not valid JSON (\(error))") }
        let top = try JSONReader(root, path: "", fail: fail)
        try top.rejectUnknownKeys(["$schema", "broker", "database", "security", "vendor", "inventory", "brandSync", "paymentProvider", "alerts",
                                  "analytics", "rateLimits", "notification", "onNodeFailure", "nodeRestarts", "nodes"])

        let b = try top.object("broker")
        try b.rejectUnknownKeys(["url", "exchange", "queueType", "deadLetterRetention", "retry", "quarantineAfter"])
        let queueTypeText = try b.string("queueType", default: "classic")
        guard let queueType = Topology.QueueType(rawValue: queueTypeText) else {
            throw b.error("queueType", "must be one of: classic, quorum")
        }
        func zeroOrDuration(_ reader: JSONReader, _ key: String) throws -> Duration {
            let text = try reader.string(key, default: "0ms")
            guard let d = DurationText.parse(text) else { throw reader.error(key, "'\(text)' is not a duration like 0ms, 500ms, 2s") }
            return d
        }
        func duration(_ reader: JSONReader, _ key: String, default fallback: String) throws -> Duration {
            let text = try reader.string(key, default: fallback)
            guard let d = DurationText.parse(text), d > .zero else { throw reader.error(key, "'\(text)' is not a duration like 500ms, 30s, 15m, 12h, 14d") }
            return d
        }
        var broker = Topology.Broker(url: try b.string("url"), exchange: try b.string("exchange", default: "troupe.events"),
                                     queueType: queueType)
        broker.deadLetterRetention = try duration(b, "deadLetterRetention", default: "14d")
        broker.quarantineAfter = try b.int("quarantineAfter", default: 3, in: 2...1000)
        if b.has("retry") {
            let r = try b.object("retry")
            try r.rejectUnknownKeys(["maxAttempts", "initialDelay", "maxDelay"])
            broker.retry = RetryPolicy(maxAttempts: try r.int("maxAttempts", default: 5, in: 1...20),
                                       initialDelay: try duration(r, "initialDelay", default: "1s"),
                                       maxDelay: try duration(r, "maxDelay", default: "60s"), jitter: 0)
        }

        let d = try top.object("database")
        try d.rejectUnknownKeys(["url", "schema"])
        var database = Topology.Database(url: try d.string("url"))
        if d.has("schema") {
            let schema = try d.string("schema")
            guard !schema.isEmpty, schema.utf8.count <= 63, schema.first.map({ !$0.isNumber }) == true,
                  schema.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") }) else {
                throw d.error("schema", "'\(schema)' must be 1 to 63 lowercase letters, digits and _, not starting with a digit")
            }
            database.schema = schema
        }

        var security = Topology.Security()
        if top.has("security") {
            let sec = try top.object("security")
            try sec.rejectUnknownKeys(["apiKeySecret", "adminToken", "cardKey"])
            if sec.has("cardKey") {
                let text = try sec.string("cardKey")
                do { security.cardVault = try CardVault(base64: text) } catch { throw sec.error("cardKey", error.description) }
            }
            if sec.has("apiKeySecret") {
                let secret = try sec.string("apiKeySecret")
                guard secret.utf8.count >= 16 else { throw sec.error("apiKeySecret", "must be at least 16 characters") }
                security.apiKeySecret = secret
            }
            if sec.has("adminToken") {
                let token = try sec.string("adminToken")
                guard token.utf8.count >= 16 else { throw sec.error("adminToken", "must be at least 16 characters") }
                security.adminToken = token
            }
        }

        var vendor: Topology.Vendor?
        if top.has("vendor") {
            let v = try top.object("vendor")
            try v.rejectUnknownKeys(["url", "clientId", "clientSecret", "accountId", "timeout", "notFoundGrace", "breaker", "simulator"])
            var parsed = Topology.Vendor(url: try v.string("url"), clientId: try v.string("clientId"), clientSecret: try v.string("clientSecret"))
            try validateURL(parsed.url, schemes: ["http", "https"], file: file, at: "vendor.url")
            parsed.accountId = try v.int("accountId", default: 1, in: 1...Int(Int32.max))
            parsed.timeout = try duration(v, "timeout", default: "10s")
            parsed.notFoundGrace = try duration(v, "notFoundGrace", default: "2m")
            if v.has("breaker") {
                let b = try v.object("breaker")
                try b.rejectUnknownKeys(["failureThreshold", "coolDown"])
                parsed.breakerFailures = try b.int("failureThreshold", default: 5, in: 1...1000)
                parsed.breakerCoolDown = try duration(b, "coolDown", default: "30s")
            }
            if v.has("simulator") {
                let sim = try v.object("simulator")
                try sim.rejectUnknownKeys(["latency", "failureRate", "processing", "catalogLimit"])
                var knobs = Topology.Vendor.Simulator()
                knobs.latency = try zeroOrDuration(sim, "latency")
                knobs.processing = try zeroOrDuration(sim, "processing")
                knobs.failureRate = try sim.number("failureRate", default: 0, in: 0...1)
                knobs.catalogLimit = try sim.int("catalogLimit", default: 2, in: 0...1_000_000)
                parsed.simulator = knobs
            }
            vendor = parsed
        }

        let nodes = try top.array("nodes") { n -> Topology.Node in
            try n.rejectUnknownKeys(["name", "components", "http", "databaseConnections"])
            let components = try n.array("components", default: []) { c -> Topology.Hosted in
                try c.rejectUnknownKeys(["name", "instances", "mailboxCapacity"])
                let name = try c.string("name")
                guard let component = Component(rawValue: name) else {
                    throw c.error("name", "unknown component '\(name)' (one of: \(Component.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                return Topology.Hosted(component: component, instances: try c.int("instances", default: 1, in: 1...64),
                                       mailboxCapacity: try c.int("mailboxCapacity", default: 256, in: 1...65_535))
            }
            var http: Topology.HTTP?
            if n.has("http") {
                let h = try n.object("http")
                try h.rejectUnknownKeys(["host", "port"])
                http = Topology.HTTP(host: try h.string("host", default: "127.0.0.1"), port: try h.int("port", in: 1...65_535))
            }
            return Topology.Node(name: try n.string("name"), components: components, http: http,
                                 databaseConnections: try n.int("databaseConnections", default: 4, in: 1...64))
        }
        guard !nodes.isEmpty else { throw fail("nodes", "must list at least one node") }

        var seenNames: [String: Int] = [:]
        var listeners: [String: Int] = [:]
        for (i, node) in nodes.enumerated() {
            if let first = seenNames[node.name] { throw fail("nodes[\(i)].name", "duplicate node name '\(node.name)' (also nodes[\(first)])") }
            seenNames[node.name] = i
            if let http = node.http {
                let key = "\(http.host):\(http.port)"
                if let first = listeners[key] { throw fail("nodes[\(i)].http.port", "port clash: \(key) is also used by nodes[\(first)]") }
                listeners[key] = i
            }
            var hosted = Set<Component>()
            for (j, c) in node.components.enumerated() where !hosted.insert(c.component).inserted {
                throw fail("nodes[\(i)].components[\(j)].name", "'\(c.component)' is listed twice on this node")
            }
        }
        let hostedAnywhere = Set(nodes.flatMap { $0.components.map(\.component) })
        if let missing = Component.allCases.first(where: { !hostedAnywhere.contains($0) }) {
            throw fail("nodes", "no node hosts component '\(missing)'")
        }
        var inventory = Topology.Inventory()
        if top.has("inventory") {
            let i = try top.object("inventory")
            try i.rejectUnknownKeys(["reservationTTL", "codes"])
            inventory.reservationTTL = try duration(i, "reservationTTL", default: "15m")
            if i.has("codes") { inventory.codes = try codes(try i.object("codes"), file: file) }
        }
        var brandSync = Topology.BrandSync()
        if top.has("brandSync") {
            let b = try top.object("brandSync")
            try b.rejectUnknownKeys(["every", "catalogLimit", "categoriesLimit", "retryAfterDefault"])
            brandSync.every = try duration(b, "every", default: "30m")
            for (key, keyPath) in [("catalogLimit", \CatalogSync.Settings.catalogLimit), ("categoriesLimit", \CatalogSync.Settings.categoriesLimit)]
            where b.has(key) {
                let l = try b.object(key)
                try l.rejectUnknownKeys(["calls", "per"])
                brandSync.sync[keyPath: keyPath].calls = try l.int("calls", default: 2, in: 1...1_000_000)
                brandSync.sync[keyPath: keyPath].window = try duration(l, "per", default: "1h")
            }
            brandSync.sync.retryAfterDefault = try duration(b, "retryAfterDefault", default: "5m")
        }
        var paymentProvider: Topology.PaymentProvider?
        if top.has("paymentProvider") {
            let p = try top.object("paymentProvider")
            try p.rejectUnknownKeys(["url", "secretKey", "webhookSecret", "tolerance", "timeout", "currency", "simulator"])
            var parsed = Topology.PaymentProvider(url: try p.string("url"), secretKey: try p.string("secretKey"), webhookSecret: try p.string("webhookSecret"))
            try validateURL(parsed.url, schemes: ["http", "https"], file: file, at: "paymentProvider.url")
            guard parsed.webhookSecret.utf8.count >= 16 else { throw p.error("webhookSecret", "must be at least 16 characters") }
            parsed.tolerance = try duration(p, "tolerance", default: "5m")
            parsed.timeout = try duration(p, "timeout", default: "10s")
            guard parsed.timeout <= .seconds(600) else { throw p.error("timeout", "must be at most 10m") }
            parsed.currency = try p.string("currency", default: "USD")
            guard parsed.currency.count == 3, parsed.currency.allSatisfy({ $0.isASCII && $0.isUppercase }) else {
                throw p.error("currency", "'\(parsed.currency)' is not a 3-letter currency code like USD")
            }
            if p.has("simulator") {
                let sim = try p.object("simulator")
                try sim.rejectUnknownKeys(["autoConfirm", "autoOutcome"])
                var knobs = Topology.PaymentProvider.Simulator()
                if sim.has("autoConfirm") { knobs.autoConfirm = try duration(sim, "autoConfirm", default: "2s") }
                let outcome = try sim.string("autoOutcome", default: "succeeded")
                guard ["succeeded", "failed"].contains(outcome) else { throw sim.error("autoOutcome", "must be succeeded or failed") }
                knobs.autoSucceeds = outcome == "succeeded"
                parsed.simulator = knobs
            }
            paymentProvider = parsed
        }
        var alerts: Topology.Alerts?
        if top.has("alerts") {
            let a = try top.object("alerts")
            try a.rejectUnknownKeys(["every", "walletConsistencyEvery", "deadLetters", "failureRate", "failureWindow", "minimumOrders",
                                     "stuckAfter", "walletBelow", "quietPeriod", "remindAfter"])
            var parsed = Topology.Alerts()
            parsed.every = try duration(a, "every", default: "10m")
            parsed.consistencyEvery = try duration(a, "walletConsistencyEvery", default: "1h")
            parsed.thresholds.deadLetters = try a.int("deadLetters", default: 1, in: 1...100_000_000)
            parsed.thresholds.failureRate = try a.number("failureRate", default: 0.2, in: 0...1)
            parsed.thresholds.failureWindow = try duration(a, "failureWindow", default: "10m")
            parsed.thresholds.minimumOrders = try a.int("minimumOrders", default: 10, in: 1...100_000_000)
            parsed.thresholds.stuckAfter = try duration(a, "stuckAfter", default: "30m")
            let below = try a.number("walletBelow", default: 10, in: 0...1e12)
            guard let amount = Money.parse(String(format: "%.2f", below)) else { throw a.error("walletBelow", "is not an amount") }
            parsed.thresholds.walletBelow = amount
            parsed.book = AlertBook(quietPeriod: try duration(a, "quietPeriod", default: "1h"), remindAfter: try duration(a, "remindAfter", default: "24h"))
            alerts = parsed
        }
        var analytics = AnalyticsBuffer.Configuration()
        if top.has("analytics") {
            let a = try top.object("analytics")
            try a.rejectUnknownKeys(["bufferCapacity", "flushRows", "flushInterval"])
            analytics.capacity = try a.int("bufferCapacity", default: analytics.capacity, in: 1_000...10_000_000)
            analytics.batchSize = try a.int("flushRows", default: analytics.batchSize, in: 1...100_000)
            analytics.interval = try duration(a, "flushInterval", default: "10s")
        }
        var limits = Topology.RateLimits()
        if top.has("rateLimits") {
            let r = try top.object("rateLimits")
            try r.rejectUnknownKeys(["anonymousPerMinute", "partnerPerMinute", "adminPerMinute", "codesPerMinute"])
            limits.codesPerMinute = try r.int("codesPerMinute", default: limits.codesPerMinute, in: 1...10_000_000)
            limits.anonymousPerMinute = try r.int("anonymousPerMinute", default: limits.anonymousPerMinute, in: 1...10_000_000)
            limits.partnerPerMinute = try r.int("partnerPerMinute", default: limits.partnerPerMinute, in: 1...10_000_000)
            limits.adminPerMinute = try r.int("adminPerMinute", default: limits.adminPerMinute, in: 1...10_000_000)
        }
        var notification = Topology.Notification()
        if top.has("notification") {
            let n = try top.object("notification")
            try n.rejectUnknownKeys(["smtp", "alertEmail", "retry", "webhookTimeout", "concurrency"])
            if n.has("smtp") {
                let m = try n.object("smtp")
                try m.rejectUnknownKeys(["url", "from", "username", "password"])
                var smtp = SMTPClient.Configuration(url: try m.string("url"), from: try m.string("from"))
                try validateURL(smtp.url, schemes: ["smtp", "smtps"], file: file, at: "notification.smtp.url")
                guard EmailMessage.isAddress(smtp.from) else { throw m.error("from", "'\(smtp.from)' is not an email address") }
                if m.has("username") { smtp.username = try m.string("username") }
                if m.has("password") { smtp.password = try m.string("password") }
                notification.smtp = smtp
            }
            if n.has("alertEmail") {
                let address = try n.string("alertEmail")
                guard EmailMessage.isAddress(address) else { throw n.error("alertEmail", "'\(address)' is not an email address") }
                notification.alertEmail = address
            }
            if n.has("retry") {
                let r = try n.object("retry")
                try r.rejectUnknownKeys(["initialDelay", "maxDelay", "retryFor"])
                notification.retry = RetryPolicy(maxAttempts: 1_000_000, initialDelay: try duration(r, "initialDelay", default: "10s"),
                                                  maxDelay: try duration(r, "maxDelay", default: "1h"), jitter: 0.2)
                notification.retryFor = try duration(r, "retryFor", default: "24h")
            }
            notification.webhookTimeout = try duration(n, "webhookTimeout", default: "10s")
            notification.concurrency = try n.int("concurrency", default: notification.concurrency, in: 1...1024)
        }
        var nodeFailure = Topology.NodeFailure()
        let policy = try top.string("onNodeFailure", default: "hold")
        guard let parsedPolicy = Topology.NodeFailure.Policy(rawValue: policy) else { throw fail("onNodeFailure", "must be one of: hold, stopAll") }
        nodeFailure.policy = parsedPolicy
        if top.has("nodeRestarts") {
            let r = try top.object("nodeRestarts")
            try r.rejectUnknownKeys(["max", "within", "holdFor", "maxHold"])
            nodeFailure.maxRestarts = try r.int("max", default: 5, in: 0...1000)
            nodeFailure.within = try duration(r, "within", default: "60s")
            nodeFailure.holdFor = try duration(r, "holdFor", default: "1m")
            nodeFailure.maxHold = try duration(r, "maxHold", default: "15m")
            guard nodeFailure.maxHold >= nodeFailure.holdFor else { throw r.error("maxHold", "must not be shorter than holdFor") }
        }
        return Topology(broker: broker, database: database, security: security, vendor: vendor, inventory: inventory, brandSync: brandSync,
                        paymentProvider: paymentProvider, alerts: alerts, analytics: analytics, rateLimits: limits, notification: notification,
                        nodeFailure: nodeFailure, nodes: nodes)
    }

    /// `inventory.codes`: `jwt` with `hs256Secret` or `rs256PublicKey` (PEM text) or `rs256PublicKeyFile`, and
    /// `objectStore.directory`.
    static func codes(_ c: JSONReader, file: String) throws -> Topology.Codes {
        try c.rejectUnknownKeys(["jwt", "objectStore"])
        var codes = Topology.Codes()
        let base = URL(fileURLWithPath: file).deletingLastPathComponent()
        if c.has("jwt") {
            let j = try c.object("jwt")
            try j.rejectUnknownKeys(["hs256Secret", "rs256PublicKey", "rs256PublicKeyFile"])
            let given = ["hs256Secret", "rs256PublicKey", "rs256PublicKeyFile"].filter { j.has($0) }
            guard given.count == 1 else { throw c.error("jwt", "needs exactly one of hs256Secret, rs256PublicKey, rs256PublicKeyFile") }
            switch given[0] {
            case "hs256Secret":
                let secret = try j.string("hs256Secret")
                guard secret.utf8.count >= 32 else { throw j.error("hs256Secret", "must be at least 32 characters (256 bits for HS256)") }
                codes.key = .hs256(secret: secret)
            default:
                var pem: String
                if given[0] == "rs256PublicKeyFile" {
                    let path = try j.string("rs256PublicKeyFile")
                    guard let text = try? String(contentsOf: URL(fileURLWithPath: path, relativeTo: base), encoding: .utf8) else {
                        throw j.error("rs256PublicKeyFile", "'\(path)' cannot be read")
                    }
                    pem = text
                } else {
                    pem = try j.string("rs256PublicKey")
                }
                guard SupremeToken.isRSAPublicKey(pem) else { throw j.error(given[0], "is not an RSA public key in PEM (BEGIN PUBLIC KEY)") }
                codes.key = .rs256(publicKeyPEM: pem)
            }
        }
        if c.has("objectStore") {
            let o = try c.object("objectStore")
            try o.rejectUnknownKeys(["directory"])
            let directory = try o.string("directory")
            guard !directory.isEmpty else { throw o.error("directory", "must not be empty") }
            codes.objectStoreDirectory = URL(fileURLWithPath: directory, relativeTo: base).standardizedFileURL.path
        }
        return codes
    }

    static func validateURL(_ url: String, schemes: [String], file: String, at path: String) throws {
        guard let parsed = URLComponents(string: url), let scheme = parsed.scheme, schemes.contains(scheme),
              let host = parsed.host, !host.isEmpty else {
            throw TopologyError(file: file, path: path, message: "'\(Redact.url(url))' is not a \(schemes[0]):// URL with a host")
        }
    }
}
