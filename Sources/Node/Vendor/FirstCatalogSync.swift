import Bridges
import Domain
import Logging
import ServiceLifecycle

/// On a node hosting BrandSync: when the catalog was never loaded from the vendor, loads it once (so the
/// first order has something to buy), retrying with backoff while the vendor is not reachable yet.
/// BrandSync's schedule, rate limits and 429 handling come later.
struct FirstCatalogSync: Service {
    let client: BambooClient
    let pool: PostgresPool
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown { await load() }
    }

    private func load() async {
        var backoff = Backoff(initial: .seconds(1), maximum: .seconds(30))
        var warned = false
        while !Task.isCancelled {
            do {
                if try await pool.withConnection({ db in try VendorCatalog.everSynced(on: db) }) { return }
                let catalog = try await client.catalog()
                for reason in catalog.skipped { logger.warning("a catalog entry from the vendor was left out", metadata: ["reason": "\(reason)"]) }
                let written = try await pool.transaction { db in try catalog.save(on: db) }
                logger.info("catalog loaded from the vendor", metadata: ["products": "\(written)", "categories": "\(catalog.categories.count)"])
                return
            } catch {
                if !warned { logger.warning("cannot load the vendor's catalog yet; retrying", metadata: ["reason": "\(error)"]) }
                warned = true
                try? await Task.sleep(for: backoff.failed())
            }
        }
    }
}
