import ActorRuntime
import Bridges
import Domain
import Logging
import ServiceLifecycle

/// One node of the topology: runs the migrations, connects the bridges, runs the components it hosts as
/// supervised actor trees (a consumer per instance), relays the outbox and serves its HTTP edge (if it
/// has one), until SIGTERM or SIGINT; then shuts down gracefully (stop taking requests, stop consuming,
/// flush the outbox, wait for confirms) within 10 s and returns.
struct NodeRuntime {
    let topology: Topology
    let node: Topology.Node
    /// The API key secret; nodes with an HTTP edge need it.
    let apiKeySecret: String?
    /// Seals and opens card codes (OrderQueue stores them, the edge shows them).
    let vault: CardVault
    let logger: Logger

    /// How long a graceful shutdown may take before the rest is cancelled.
    static let shutdownLimit: Duration = .seconds(9)
    /// After a graceful shutdown that overran ``shutdownLimit``, how long cancelled services get before
    /// the ``ShutdownWatchdog`` ends the process (a node that outlives its supervisor would hold its ports and queues).
    static let cancellationLimit: Duration = .seconds(3)

    init(topology: Topology, node: Topology.Node, apiKeySecret: String?, vault: CardVault = .development) {
        self.topology = topology
        self.node = node
        self.apiKeySecret = apiKeySecret
        self.vault = vault
        var logger = Logger(label: "troupe.node")
        logger[metadataKey: "node"] = "\(node.name)"
        self.logger = logger
    }

    func run() async throws {
        let pool = topology.database.pool(size: node.databaseConnections, applicationName: "troupe node \(node.name)")
        // Code uploads write on connections of their own: a long upload never holds the ones the node shares.
        let uploads = node.http != nil && topology.inventory.codes.key != nil
            ? topology.database.pool(size: CodeUpload.writers, applicationName: "troupe node \(node.name) uploads") : nil
        var failure: (any Error)?
        do { try await run(pool: pool, uploads: uploads) } catch { failure = error }
        await ShutdownWatchdog.shared.tracking("database connections") {
            await pool.shutdown()
            await uploads?.shutdown()
        }
        if let failure { throw failure }
    }

    private func run(pool: PostgresPool, uploads: PostgresPool?) async throws {
        let applied = try await topology.database.migrate(pool)
        if !applied.isEmpty { logger.info("migrations applied", metadata: ["count": "\(applied.count)"]) }
        if node.components.contains(where: { $0.component == .orderQueue }) {
            // Orders stored before cards were sealed: sealed now, once.
            let sealed = try await vault.sealStoredCards(pool: pool)
            if sealed > 0 { logger.info("sealed the cards of orders stored in plain", metadata: ["orders": "\(sealed)"]) }
        }

        let wire = topology.broker.wire
        let publisher = try AMQPPublisher(url: topology.broker.url, name: "\(node.name).publisher") { [topology] in
            try ComponentWiring.declareEveryQueue(of: topology, on: $0)
        }
        let relay = OutboxRelay(pool: pool, databaseURL: topology.database.url, publisher: publisher, exchange: wire.exchange)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: PublisherService(publisher: publisher), serviceName: "publisher"),
            .init(service: RelayService(relay: relay, logger: logger), serviceName: "outbox relay"),
        ]
        let breaker = CircuitBreaker(name: "vendor", configuration: .init(failureThreshold: topology.vendor?.breakerFailures ?? 5,
                                                                          coolDown: topology.vendor?.breakerCoolDown ?? .seconds(30)))
        let hostsOrderQueue = node.components.contains { $0.component == .orderQueue }
        let stats = NodeStats(breakers: hostsOrderQueue ? [breaker] : [])
        var vendor = VendorSteps(adapter: topology.vendor.map(BambooClient.init), breaker: breaker, orders: pool, vault: vault)
        vendor.notFoundGrace = topology.vendor?.notFoundGrace ?? vendor.notFoundGrace
        let hosts = Set(node.components.map(\.component))
        let notification = hosts.contains(.notification)
            ? Notification.Settings(templates: try NotificationTemplates.bundled(), email: topology.notification.smtp != nil,
                                    alertEmail: topology.notification.alertEmail, retryFor: topology.notification.retryFor)
            : nil
        let trees = node.components.map { hosted in
            let wiring = ComponentWiring.of(hosted.component, vendor: vendor, reservationTTL: topology.inventory.reservationTTL,
                                            notification: notification)
            var configuration = EnvelopeConsumer.Configuration(
                component: hosted.component.rawValue, topics: wiring.topics, prefetch: hosted.mailboxCapacity,
                batchSize: min(64, hosted.mailboxCapacity), topology: wire)
            configuration.quarantineAfter = topology.broker.quarantineAfter
            let amqpURL = topology.broker.url
            return ComponentTreeService.Hosted(component: hosted.component.rawValue, instances: hosted.instances) { [configuration] in
                try EnvelopeConsumer(configuration, amqpURL: amqpURL, pool: pool, publisher: publisher, prepare: wiring.prepare,
                                     handler: TestCrashHook.wrap(wiring.handler, component: configuration.component))
            }
        }
        let heartbeat = NodeHeartbeat(node: node.name)
        services.append(.init(service: ComponentTreeService(node: node.name, heartbeat: heartbeat, hosted: trees, pool: pool, stats: stats, logger: logger),
                              serviceName: "component trees"))
        if notification != nil {
            services.append(.init(service: NotificationSender(pool: pool, settings: topology.notification, vault: vault, logger: logger),
                                  serviceName: "notification sender"))
        }
        let jobs = NodeJobs.of(topology, hosts: hosts)
        if !jobs.isEmpty {
            services.append(.init(service: ScheduleService(jobs: jobs, pool: pool, node: node.name, logger: logger), serviceName: "schedules"))
        }
        if let http = node.http, let apiKeySecret {
            // Listed before the edge, so a shutdown stops the edge taking events first, then flushes them all.
            let analytics = AnalyticsBuffer(pool: pool, configuration: topology.analytics, logger: logger)
            services.append(.init(service: AnalyticsFlushService(buffer: analytics), serviceName: "analytics buffer"))
            var codeToken: SupremeToken?
            if let key = topology.inventory.codes.key { codeToken = try await SupremeToken.verifier(key) }
            // near the end of the list: among the first services a shutdown stops
            let edge = EdgeServer.application(http: http, pool: pool, publisher: publisher, amqpURL: topology.broker.url, keySecret: apiKeySecret,
                                              adminToken: topology.security.adminToken, vault: vault, analytics: analytics,
                                              rateLimits: topology.rateLimits, catalogSync: topology.brandSync.sync,
                                              paymentProvider: topology.paymentProvider,
                                              codeToken: codeToken, codeUploads: uploads ?? pool,
                                              codeStore: topology.inventory.codes.objectStoreDirectory.map { DirectoryObjectStore(root: $0) },
                                              otherNodes: topology.nodes.map(\.name).filter { $0 != node.name }, logger: logger)
            services.append(.init(service: edge, serviceName: "http edge \(http.host):\(http.port)"))
        }
        services.append(.init(service: BrokerShutdownNotice(publisher: publisher), serviceName: "broker shutdown notice"))
        // A service that fails (the edge cannot listen: its port is taken) shuts the node down gracefully and
        // its error ends the node, which then exits non-zero; by default the group cancelled its services
        // instead, some of which do not end on cancellation, and the node hung, ignoring SIGTERM.
        // Each tracked by the watchdog, so a shutdown that overruns names what did not stop; the watchdog last, so
        // a shutdown arms it first.
        services = services.map { .init(service: TrackedService(name: $0.serviceName, service: $0.service), serviceName: $0.serviceName) }
        services.append(.init(service: ShutdownWatchdogService(limit: Self.shutdownLimit + Self.cancellationLimit, logger: logger),
                              serviceName: "shutdown watchdog"))
        for i in services.indices { services[i].failureTerminationBehavior = .gracefullyShutdownGroup }
        var configuration = ServiceGroupConfiguration(services: services, gracefulShutdownSignals: [.sigterm, .sigint],
                                                      logger: logger)
        configuration.maximumGracefulShutdownDuration = Self.shutdownLimit
        // Not the library's limit (a `Fatal error` trace): the watchdog ends an overrunning shutdown, saying why.
        configuration.maximumCancellationDuration = nil
        let group = ServiceGroup(configuration: configuration)
        let hosted = node.components.map { "\($0.component)×\($0.instances)" }.joined(separator: ", ")
        logger.info("node started", metadata: ["components": "\(hosted)", "http": "\(node.http.map { "\($0.host):\($0.port)" } ?? "none")"])
        try await group.run()
        // Stopped on purpose (a node that failed is down, not stopped, in the edges' /health).
        await ShutdownWatchdog.shared.tracking("node heartbeat") { try? await heartbeat.stopped(pool: pool) }
        logger.info("node stopped")
    }
}
