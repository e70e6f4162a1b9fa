import Domain

/// The recurring jobs of a topology, by the components that run them: OrderQueue's backfill and
/// reconciliation, Inventory's reservation expiry, BrandSync's catalog sync (with a vendor), and with an
/// `alerts` section Payment's wallet consistency and Notification's admin alerts. A node runs the jobs of
/// the components it hosts; `troupe jobs` lists them all.
enum NodeJobs {
    static func of(_ topology: Topology, hosts: Set<Component>) -> [RecurringJob] {
        var jobs: [RecurringJob] = []
        if hosts.contains(.orderQueue) { jobs += [SagaJobs.backfill, SagaJobs.reconcile] }
        if hosts.contains(.inventory) { jobs.append(SagaJobs.expireReservations(ttl: topology.inventory.reservationTTL)) }
        if hosts.contains(.brandSync), let vendor = topology.vendor {
            jobs.append(CatalogSync.job(every: topology.brandSync.every, source: BambooClient(vendor), settings: topology.brandSync.sync))
        }
        if let alerts = topology.alerts {
            if hosts.contains(.payment) { jobs.append(WalletConsistency.job(every: alerts.consistencyEvery, alerts: alerts.book)) }
            if hosts.contains(.notification) {
                let amqpURL = topology.broker.url
                jobs.append(AdminAlerts(thresholds: alerts.thresholds, book: alerts.book).job(every: alerts.every) {
                    await QueueDepths.read(amqpURL: amqpURL).map { Dictionary(uniqueKeysWithValues: $0.map { ($0.component, $0.dead) }) }
                })
            }
        }
        return jobs
    }

    /// Every job some node of the topology runs, once each.
    static func all(_ topology: Topology) -> [RecurringJob] {
        of(topology, hosts: Set(topology.nodes.flatMap { $0.components.map(\.component) }))
    }
}
