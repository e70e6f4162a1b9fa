import ActorRuntime
import Bridges
import Foundation

/// Where a catalog sync reads the vendor: Bamboo's categories and catalog, as JSON. A refusal throws
/// ``VendorError`` (a 429 carries the vendor's text and its `Retry-After`).
public protocol CatalogSource: Sendable {
    func categories() async throws -> JSONValue
    func catalog() async throws -> JSONValue
}

/// BrandSync's sync: categories, then the catalog, each behind its own ``VendorRateLimiter`` and each
/// recorded in `catalog_syncs` with its outcome; a part that fails does not stop the other. The catalog's
/// save emits `catalog.synced` with its counts in the same transaction. Runs as the `catalog-sync`
/// ``RecurringJob`` (``job(every:source:settings:)``).
public struct CatalogSync: Sendable {
    public struct Settings: Sendable, Equatable {
        public var catalogLimit = VendorRateLimiter.catalog
        public var categoriesLimit = VendorRateLimiter.categories
        /// The wait after a 429 that says neither in its text nor in `Retry-After` how long.
        public var retryAfterDefault: Duration = .seconds(300)
        /// How soon a first load (no catalog ever synced) is tried again after it failed.
        public var firstLoadRetry: Duration = .seconds(30)
        public init() {}
    }

    public static let jobName = "catalog-sync"

    public let source: any CatalogSource
    public let settings: Settings

    public init(source: any CatalogSource, settings: Settings) {
        self.source = source
        self.settings = settings
    }

    /// The recurring job: every `every` once per cluster, sooner when the vendor's wait ends first or a
    /// first load failed.
    public static func job(every: Duration, source: any CatalogSource, settings: Settings) -> RecurringJob {
        let sync = CatalogSync(source: source, settings: settings)
        return RecurringJob(name: jobName, period: every, work: .detached { pool in try await sync.run(pool) })
    }

    /// How one part went.
    enum Part: Equatable {
        case fetched(JSONValue)
        case rateLimited(until: Date)
        case failed(String)
    }

    /// Both parts, once. - Returns: the job's result (failed when a part failed; retry sooner when the
    /// catalog waits on the vendor or a first load failed).
    public func run(_ pool: PostgresPool) async throws -> JobResult {
        var lines: [String] = [], failed = false
        var categoriesCounts: Counts? = nil
        var categories = await fetch(settings.categoriesLimit, pool, source.categories)
        if case .fetched(let json) = categories {
            let parsed = VendorCatalog.parseCategories(json)
            if parsed.categories.isEmpty {
                categories = .failed("the vendor listed no categories; nothing marked unavailable")
            } else {
                do {
                    let counts = try await pool.transaction { db in
                        let counts = try VendorCatalog.save(categories: parsed.categories, on: db)
                        try Self.record(db, "categories", "ok", parsed.skipped.isEmpty ? nil : parsed.skipped.joined(separator: "; "),
                                        total: parsed.categories.count, counts)
                        return counts
                    }
                    categoriesCounts = counts
                    lines.append("categories: \(counts.text)")
                } catch {
                    categories = .failed("saving them failed: \(error)")        // the catalog still runs
                }
            }
        }
        failed = try await unsaved(pool, "categories", categories, into: &lines) || failed

        var rows = 0
        let categoriesRan = categoriesCounts
        var catalog = await fetch(settings.catalogLimit, pool, source.catalog)
        if case .fetched(let json) = catalog {
            let parsed = VendorCatalog.parse(catalog: json)
            if parsed.products.isEmpty {
                catalog = .failed("the vendor listed no products; nothing marked unavailable")
            } else {
                do {
                    let (products, brands, skipped) = try await pool.transaction { db in
                        let kept = try parsed.withoutSKUsTaken(on: db)
                        let (products, brands) = try kept.save(on: db)
                        let detail = kept.skipped.isEmpty ? nil : kept.skipped.prefix(20).joined(separator: "; ")
                        try Self.record(db, "catalog", "ok", detail, total: kept.products.count, products)
                        try TransactionalOutbox.emit(Self.synced(products: products, brands: brands, categories: categoriesRan,
                                                                 skipped: kept.skipped.count), on: db)
                        return (products, brands, kept.skipped.count)
                    }
                    rows = products.new + products.changed + products.unavailable
                    lines.append("catalog: products \(products.text); brands \(brands.text)" + (skipped == 0 ? "" : "; \(skipped) entries left out"))
                } catch {
                    catalog = .failed("saving it failed: \(error)")
                }
            }
        }
        failed = try await unsaved(pool, "catalog", catalog, into: &lines) || failed
        // The catalog runs again when the vendor's wait ends, or soon when it was never loaded.
        var retryAt: Date? = nil
        switch catalog {
        case .rateLimited(let until): retryAt = until
        case .failed where try await !pool.withConnection({ db in try VendorCatalog.everSynced(on: db) }):
            retryAt = Date().addingTimeInterval(settings.firstLoadRetry.inSeconds)
        default: break
        }
        return JobResult(rows: rows, summary: lines.joined(separator: "; "), failed: failed, retryAt: retryAt)
    }

    /// Records a part that was not saved (rate-limited or failed) and adds its line. - Returns: whether it failed.
    func unsaved(_ pool: PostgresPool, _ part: String, _ outcome: Part, into lines: inout [String]) async throws -> Bool {
        switch outcome {
        case .fetched:
            return false
        case .rateLimited(let until):
            lines.append("\(part): rate-limited until \(Timestamp.format(until))")
            try await record(pool, part, "rate-limited", "until \(Timestamp.format(until))")
            return false
        case .failed(let reason):
            lines.append("\(part): failed: \(reason)")
            try await record(pool, part, "failed", reason)
            return true
        }
    }

    public typealias Counts = VendorCatalog.Counts

    /// One call through its limiter: counted before it is made; a 429 gives the call back and holds the
    /// limiter for the vendor's wait.
    func fetch(_ limiter: VendorRateLimiter, _ pool: PostgresPool, _ call: @Sendable () async throws -> JSONValue) async -> Part {
        let decision: VendorRateLimiter.Decision
        do {
            decision = try await pool.transaction { db in try limiter.acquire(on: db) }
        } catch {
            return .failed("the rate limiter could not be read: \(error)")
        }
        let counted: Int64
        switch decision {
        case .wait(let until): return .rateLimited(until: until)
        case .go(let call): counted = call
        }
        do {
            let json = try await call()
            try? await pool.withConnection { db in try limiter.answered(counted, on: db) }
            return .fetched(json)
        } catch let error as VendorError where error.status == 429 {
            let wait = VendorRetryAfter.parse(message: error.message, header: error.retryAfter, fallback: settings.retryAfterDefault)
            do {
                try await pool.transaction { db in try limiter.refund(counted, retryAfter: wait, on: db) }
            } catch {
                return .failed("the vendor said wait \(Int(wait.inSeconds)) s, which could not be recorded: \(error)")
            }
            return .rateLimited(until: Date().addingTimeInterval(wait.inSeconds))
        } catch {
            try? await pool.withConnection { db in try limiter.answered(counted, on: db) }
            return .failed("\(error)")
        }
    }

    func record(_ pool: PostgresPool, _ part: String, _ outcome: String, _ detail: String) async throws {
        try await pool.withConnection { db in try Self.record(db, part, outcome, detail, total: 0, Counts()) }
    }

    static func record(_ db: PostgresConnection, _ part: String, _ outcome: String, _ detail: String?, total: Int, _ counts: Counts) throws {
        let written = counts.new + counts.changed
        try db.query("""
            INSERT INTO catalog_syncs (part, outcome, detail, categories, products, products_written, new_rows, changed, unchanged, unavailable)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
            """, [part, outcome, detail.map { String($0.replacingOccurrences(of: "\u{0}", with: "").prefix(2000)) }, part == "categories" ? total : 0, part == "catalog" ? total : 0,
                  written, counts.new, counts.changed, counts.unchanged, counts.unavailable])
    }

    /// `catalog.synced` (producer brand-sync): the products' counts at the top, the brands' and (when that
    /// part ran) the categories' beside them.
    static func synced(products: Counts, brands: Counts, categories: Counts?, skipped: Int) -> Envelope {
        var payload: [String: JSONValue] = ["brands": brands.json, "categories": categories?.json ?? .null,
                                            "skipped": .number(Double(skipped))]
        if case .object(let counts) = products.json { payload.merge(counts) { a, _ in a } }
        return Envelope(topic: DomainTopic.catalogSynced, producerId: Component.brandSync.rawValue,
                        correlationId: "catalog-sync-\(UUID.v7().lowercasedString)", payload: .object(payload))
    }
}

extension CatalogSync {
    /// A manual request's answer (`POST /api/brand/sync-catalog`, `troupe catalog sync`).
    public enum Trigger: Sendable, Equatable {
        /// Runs at the next tick of a node hosting BrandSync (or runs now, since `running`).
        case accepted(runsAt: Date, running: Date?)
        /// The catalog's limiter says wait: nothing was asked for; try again at `until`.
        case limited(until: Date)
    }

    /// Asks for a sync now unless one runs (it is the answer) or the catalog may not be called yet (no
    /// vendor call beyond the limits, and no request left waiting for an hour).
    public static func trigger(_ settings: Settings, on db: PostgresConnection) throws -> Trigger {
        try db.query("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.troupe.catalog-sync-trigger'))")
        let now: Date = try db.query("SELECT now() AS now").rows[0].decode("now")
        if let since = try ScheduleBook.running(jobName, on: db) { return .accepted(runsAt: since, running: since) }
        // The catalog is what a sync is for: while its limiter says wait, a run would only spend a categories call.
        if case .wait(let until)? = try settings.catalogLimit.peek(on: db) { return .limited(until: until) }
        try ScheduleBook.request(jobName, on: db)
        return .accepted(runsAt: now, running: nil)
    }
}
