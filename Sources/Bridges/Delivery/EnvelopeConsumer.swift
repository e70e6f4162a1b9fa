import ActorRuntime
import Foundation
import Logging
import Synchronization

/// Consumes a component's queue with the brief's guarantees: each envelope's effects, its inbox record
/// and the envelopes it emits commit in one PostgreSQL transaction, and the delivery is acked only
/// after that commit. A duplicate (same envelope id) is acked without running the handler again.
///
/// Deliveries are handled in batches: one transaction for the batch, each delivery in a savepoint (so
/// one failing handler does not undo the others), then one `basic.ack` with `multiple`. A handler's
/// failure goes by the ``FailurePolicy``: transient (and unclassified) errors are retried through the
/// retry queues with the attempt count in `x-attempts`, then dead-lettered; permanent errors and
/// malformed envelopes (not JSON, missing fields, unknown version) go to `troupe.<component>.dead` at
/// once with `x-error` saying why. The consumer never stops for a bad message.
public final class EnvelopeConsumer: Sendable {
    /// The handler: plain business code run inside the delivery's transaction.
    public typealias Handler = @Sendable (Envelope, DeliveryContext) throws -> Void
    /// Work a delivery needs before its transaction and outside it (a call to an outside system), given
    /// the envelope and its attempt; what it returns reaches the handler as ``DeliveryContext/prepared``.
    /// It runs for deliveries the inbox has not recorded, and may run again for one whose transaction then
    /// fails: it must be idempotent (e.g. keyed by the envelope's or the order's id). Its errors go by the
    /// failure policy like the handler's.
    public typealias Prepare = @Sendable (Envelope, _ attempt: Int) async throws -> JSONValue?

    public struct Configuration: Sendable {
        public var component: String
        /// Routing keys the component's queue is bound to.
        public var topics: [String]
        /// Unacked deliveries at most (the broker-side backpressure).
        public var prefetch: Int
        /// Deliveries per transaction at most.
        public var batchSize: Int
        public var topology: WireTopology
        /// Which handler errors are transient; the retry delays come from `topology`.
        public var classify: @Sendable (any Error) -> FailureDisposition
        /// How long inbox rows are kept (duplicates older than this are no longer recognised).
        public var inboxRetention: Duration = .seconds(7 * 86400)
        /// A message that comes back unsettled this many times (its consumer crashed or stopped while it was in
        /// hand) is dead-lettered instead of handled again: a message that crashes its node costs that message,
        /// not the node.
        public var quarantineAfter = 3

        public init(component: String, topics: [String], prefetch: Int = 256, batchSize: Int = 64,
                    topology: WireTopology = WireTopology(), classify: @escaping @Sendable (any Error) -> FailureDisposition = FailurePolicy.defaultClassifier) {
            self.component = component
            self.topics = topics
            self.prefetch = prefetch
            self.batchSize = batchSize
            self.topology = topology
            self.classify = classify
        }
    }

    /// Counters (for metrics and tests).
    public struct Stats: Sendable, Equatable {
        public var handled = 0, duplicates = 0, retried = 0, deadLettered = 0
        public var pauses = 0, resumes = 0

        public init(handled: Int = 0, duplicates: Int = 0, retried: Int = 0, deadLettered: Int = 0, pauses: Int = 0, resumes: Int = 0) {
            (self.handled, self.duplicates, self.retried, self.deadLettered) = (handled, duplicates, retried, deadLettered)
            (self.pauses, self.resumes) = (pauses, resumes)
        }
    }

    private enum Outcome {
        case done, retry(attempt: Int, reason: String), dead(attempts: Int, reason: String), requeue
        var isDone: Bool { if case .done = self { true } else { false } }
    }

    public let configuration: Configuration
    public let consumer: AMQPConsumer
    private let pool: PostgresPool
    private let publisher: AMQPPublisher
    private let handler: Handler
    private let prepare: Prepare?
    private let logger: Logger
    private let counters = Mutex(Stats())
    private let started = Atomic<Bool>(false)
    /// Set by ``close()``: batches held during a database outage go back to the queue instead.
    private let closing = Atomic<Bool>(false)
    private var isClosing: Bool { closing.load(ordering: .acquiring) }
    /// Opened when ``run()`` returns.
    private let finished = StopLatch()
    /// How long ``close()`` lets the batches in flight settle before it closes anyway.
    public static let drainTimeout: Duration = .seconds(5)

    /// - Parameter publisher: publishes to the retry and dead queues (with confirms) before the ack.
    public init(_ configuration: Configuration, amqpURL: String, pool: PostgresPool, publisher: AMQPPublisher,
                logger: Logger = Logger(label: "troupe.consumer"), prepare: Prepare? = nil, handler: @escaping Handler) throws(AMQPError) {
        self.configuration = configuration
        self.pool = pool
        self.publisher = publisher
        self.handler = handler
        self.prepare = prepare
        var logger = logger
        logger[metadataKey: "component"] = "\(configuration.component)"
        self.logger = logger
        let topology = configuration.topology, component = configuration.component, topics = configuration.topics
        consumer = try AMQPConsumer(url: amqpURL, queue: WireTopology.queue(component), prefetch: configuration.prefetch, logger: logger) {
            try topology.declare(component: component, topics: topics, on: $0)
        }
    }

    public var stats: Stats { counters.withLock { $0 } }

    /// Handles deliveries until ``close()``; prunes the inbox hourly meanwhile.
    public func run() async {
        started.store(true, ordering: .releasing)
        defer { finished.open() }
        let pruning = Task {
            while !Task.isCancelled {
                do { try await pruneInbox() } catch { logger.warning("inbox pruning failed", metadata: ["reason": "\(error)"]) }
                try? await Task.sleep(for: .seconds(3600))
            }
        }
        defer { pruning.cancel() }
        // Two batches in flight: one commits while the next is taken and handled; acks stay in order,
        // because a batch settles (routes and acks) only after the one before it has.
        var previous: Task<Void, Never>?
        while true {
            let batch = await consumer.next(max: configuration.batchSize)
            if batch.isEmpty { break }
            for part in Self.parts(of: batch) {
                if part.count == 1, part[0].redelivered {
                    // Back unsettled: alone, with nothing else in hand (a crash now costs no other delivery a
                    // count), counted first, quarantined at the limit.
                    await previous?.value
                    previous = nil
                    await handleReturned(part[0])
                    continue
                }
                let before = previous
                previous = Task { await self.handle(part, after: before) }
                await before?.value
            }
        }
        await previous?.value
    }

    /// `batch` cut where a redelivered delivery stands, each of those alone, in delivery order (the acks'
    /// `multiple` covers earlier tags, so the parts must settle in this order).
    static func parts(of batch: [AMQPDelivery]) -> [[AMQPDelivery]] {
        var parts: [[AMQPDelivery]] = [], run: [AMQPDelivery] = []
        for delivery in batch {
            if delivery.redelivered {
                if !run.isEmpty { parts.append(run); run = [] }
                parts.append([delivery])
            } else {
                run.append(delivery)
            }
        }
        if !run.isEmpty { parts.append(run) }
        return parts
    }

    /// A delivery that came back unsettled: counted (its own autocommit, before anything of it runs), then
    /// dead-lettered at ``Configuration/quarantineAfter``, else handled as usual. One at a time in the whole process
    /// (``ReturnedGate``, for its lease at most): when a returned delivery crashes the process, it is the only
    /// returned one in hand, so another consumer's returned message is not counted for its crash. A message the inbox already recorded
    /// (committed, its ack lost) is a duplicate, acked, never quarantined. Without the database the count is
    /// skipped (logged) and the handling waits for it as usual.
    private func handleReturned(_ delivery: AMQPDelivery) async {
        // Stopping: not in line behind the others (the stop would wait out their leases).
        guard !isClosing else { return consumer.reject(delivery, requeue: true) }
        let ticket = await ReturnedGate.shared.acquire()
        if isClosing {
            // Its turn came while stopping: back to the queue uncounted (this stop is not its crash).
            consumer.reject(delivery, requeue: true)
        } else {
            await countAndHandle(delivery)
        }
        await ReturnedGate.shared.release(ticket)
    }

    private func countAndHandle(_ delivery: AMQPDelivery) async {
        let component = configuration.component, envelopeID = (try? Envelope.decode(delivery.message.body))?.id.lowercasedString
        let key = envelopeID ?? Self.bodyKey(delivery.message.body)
        let returns: Int
        do {
            returns = try await pool.withConnection { db in
                try db.query("""
                    INSERT INTO troupe_redeliveries (component, message_key, count) VALUES ($1, $2, 1)
                    ON CONFLICT (component, message_key) DO UPDATE SET count = troupe_redeliveries.count + 1, last_at = now()
                    RETURNING count
                    """, [component, key]).rows[0].decode("count", as: Int.self)
            }
        } catch {
            logger.warning("a returned message could not be counted; handled without the quarantine's check",
                           metadata: ["id": "\(key)", "reason": "\(error)"])
            return await handle([delivery], after: nil)
        }
        guard returns >= configuration.quarantineAfter else { return await handle([delivery], after: nil) }
        if let envelopeID {
            let recorded = try? await pool.withConnection { db in
                try db.query("SELECT 1 FROM troupe_inbox WHERE component = $1 AND envelope_id = $2", [component, envelopeID]).rows.isEmpty == false
            }
            // Handled and committed already (or the check cannot be made): the usual path acks the duplicate, or
            // holds the delivery until the database is back.
            if recorded != false { return await handle([delivery], after: nil) }
        }
        let reason = "crashed the consumer \(returns) times (came back unsettled \(returns) times); quarantined"
        logger.error("a message keeps crashing or stopping its consumer: dead-lettered", metadata: ["id": "\(key)", "returns": "\(returns)"])
        let (_, dead) = await route([delivery], [.dead(attempts: attempt(of: delivery), reason: reason)])
        counters.withLock { $0.deadLettered += dead }
    }

    /// What identifies a message that is not an envelope across its deliveries: an FNV-1a hash of its body (an
    /// envelope is identified by its id).
    static func bodyKey(_ body: [UInt8]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in body { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        return "body:" + String(hash, radix: 16) + ":" + String(body.count)
    }

    /// Stops gracefully: no more deliveries (`basic.cancel`), the deliveries already taken are handled,
    /// committed and acked (up to ``drainTimeout``), then the connection closes and anything not acked
    /// goes back to the queue. So a stopping node leaves nothing it committed to be redelivered.
    public func close() async {
        closing.store(true, ordering: .releasing)
        if started.load(ordering: .acquiring), !finished.isOpen {
            consumer.drain()
            if await !finished.wait(timeout: Self.drainTimeout) {
                logger.warning("batches in flight did not settle in time; closing anyway (they are redelivered)")
            }
        }
        await consumer.close()
    }

    /// Stops taking deliveries (`basic.cancel`): messages stay in the queue, none is dead-lettered.
    /// For a supervisor whose component exceeded its restart intensity, or an open circuit breaker.
    public func pause(reason: String) {
        logger.warning("consumption paused", metadata: ["reason": "\(reason)"])
        counters.withLock { $0.pauses += 1 }
        consumer.pause()
    }

    /// Takes deliveries again after ``pause(reason:)``.
    public func resume() {
        logger.info("consumption resumed")
        counters.withLock { $0.resumes += 1 }
        consumer.resume()
    }

    /// Deletes this component's inbox rows older than ``Configuration/inboxRetention``; returns how many.
    @discardableResult
    public func pruneInbox() async throws -> Int {
        let component = configuration.component, seconds = configuration.inboxRetention.inSeconds
        return try await pool.transaction { db in
            try db.query("DELETE FROM troupe_redeliveries WHERE component = $1 AND last_at < now() - make_interval(secs => $2)",
                         [component, seconds])
            return try db.query("DELETE FROM troupe_inbox WHERE component = $1 AND handled_at < now() - make_interval(secs => $2)",
                                [component, seconds]).affectedRows
        }
    }

    // MARK: one batch

    private func handle(_ batch: [AMQPDelivery], after previous: Task<Void, Never>?) async {
        let component = configuration.component
        var outcomes = [Outcome](repeating: .done, count: batch.count)
        var envelopes: [(index: Int, envelope: Envelope)] = []
        var handled = 0, duplicates = 0
        for (i, delivery) in batch.enumerated() {
            do {
                envelopes.append((i, try Envelope.decode(delivery.message.body)))
            } catch {
                outcomes[i] = .dead(attempts: attempt(of: delivery), reason: "malformed envelope: \(error)")
            }
        }
        var prepared: [Int: JSONValue] = [:]
        if let prepare, !envelopes.isEmpty {
            var (results, failures) = await self.prepare(envelopes, batch, prepare)
            // A prepare step that failed because the database is unreachable is the environment's fault, not
            // the delivery's: it is run again here once the database is back, never counted as an attempt.
            var pause = OutagePause()
            while failures.values.contains(where: \.outage), await pause.next(closing: { self.isClosing }, logger, "a prepare step cannot reach the database") {
                let again = envelopes.filter { failures[$0.index]?.outage == true }
                let (moreResults, moreFailures) = await self.prepare(again, batch, prepare)
                for e in again { failures[e.index] = moreFailures[e.index]; results[e.index] = moreResults[e.index] }
            }
            prepared = results
            for (i, f) in failures { outcomes[i] = f.outage ? .requeue : outcome(of: f, batch[i]) }
            envelopes.removeAll { failures[$0.index] != nil }
        }
        if !envelopes.isEmpty {
            let handler = self.handler, classify = configuration.classify
            let toHandle = envelopes.map { (index: $0.index, envelope: $0.envelope, attempt: attempt(of: batch[$0.index]), prepared: prepared[$0.index]) }
            var pause = OutagePause()
            while true {
                do {
                    let (failures, duplicateCount) = try await Self.commit(toHandle, component: component, pool: pool, handler: handler, classify: classify,
                                                                           maxAttempts: configuration.topology.maxAttempts)
                    for (i, f) in failures { outcomes[i] = outcome(of: f, batch[i]) }
                    handled = toHandle.count - failures.count - duplicateCount
                    duplicates = duplicateCount
                } catch let error where Self.isOutage(error) {
                    // The database is unreachable: the batch is held and committed again once it is back
                    // (not requeued: a quorum queue counts every redelivery towards its delivery limit).
                    // Closing, or the pool shut down, it goes back to the queue.
                    if !Self.isPoolClosed(error), await pause.next(closing: { self.isClosing }, logger, "could not commit a batch; holding it until the database is back",
                                                 ["reason": "\(error)", "deliveries": "\(toHandle.count)"]) { continue }
                    for d in toHandle { outcomes[d.index] = .requeue }
                } catch {
                    // Not the database going away, and not one delivery's fault even one savepoint at a time (e.g.
                    // a deferred constraint failing at COMMIT): each delivery counts it as a failed attempt, so the
                    // batch ends in the retry queues, then dead, instead of going back to the queue for ever.
                    logger.error("a batch failed to commit; its deliveries are retried", metadata: ["reason": "\(error)", "deliveries": "\(toHandle.count)"])
                    let failure = HandlerFailure(description: "the batch could not commit: \(error)", disposition: .transient)
                    for d in toHandle { outcomes[d.index] = outcome(of: failure, batch[d.index]) }
                }
                break
            }
        }
        await previous?.value                                  // settle in delivery order
        let (retried, dead) = await route(batch, outcomes)
        // Counted once acked, so a reader of the stats sees settled deliveries only.
        counters.withLock {
            $0.handled += handled
            $0.duplicates += duplicates
            $0.retried += retried
            $0.deadLettered += dead
        }
    }

    /// Where a failed delivery goes: a retry queue while attempts remain for a transient failure, else
    /// the dead queue with the reason.
    private func outcome(of f: HandlerFailure, _ delivery: AMQPDelivery) -> Outcome {
        let n = attempt(of: delivery)
        if f.disposition != .permanent, n < configuration.topology.maxAttempts { return .retry(attempt: n, reason: f.description) }
        let why = f.disposition == .permanent ? "permanent failure" : "retries exhausted"
        return .dead(attempts: n, reason: "\(why): \(f.description)")
    }

    /// Runs the prepare step, concurrently, for the envelopes the inbox has not recorded (a duplicate
    /// needs no outside call: its handler will not run).
    private func prepare(_ envelopes: [(index: Int, envelope: Envelope)], _ batch: [AMQPDelivery], _ prepare: @escaping Prepare) async
        -> (results: [Int: JSONValue], failures: [Int: HandlerFailure]) {
        let component = configuration.component, classify = configuration.classify
        let ids = "{" + envelopes.map { $0.envelope.id.lowercasedString }.joined(separator: ",") + "}"
        // Planned each time: a generic plan cached while the inbox was nearly empty read all of it at every
        // batch as it grew (7 ms a call, the first minute of a fresh database, in `troupe-bench orders`).
        let seen = (try? await pool.withConnection { db in
            try Set(db.query("SELECT envelope_id FROM troupe_inbox WHERE component = $1 AND envelope_id = ANY($2::uuid[])", [component, ids], planEachTime: true)
                .rows.map { try $0.decode("envelope_id", as: UUID.self) })
        }) ?? []
        // Each child returns a struct: with a `(Int, Result<JSONValue?, HandlerFailure>)` tuple instead, the
        // release build (Swift 6.3.1) handed back garbage indexes (seen in `troupe-bench orders`).
        return await withTaskGroup(of: PrepareOutcome.self) { group in
            for (i, envelope) in envelopes where !seen.contains(envelope.id) {
                let attempt = attempt(of: batch[i])
                group.addTask {
                    do { return PrepareOutcome(index: i, value: try await prepare(envelope, attempt), failure: nil) } catch {
                        return PrepareOutcome(index: i, value: nil, failure: HandlerFailure(description: "\(error)", disposition: classify(error),
                                                                                              outage: Self.isOutage(error) && !Self.isPoolClosed(error)))
                    }
                }
            }
            var results: [Int: JSONValue] = [:], failures: [Int: HandlerFailure] = [:]
            for await outcome in group {
                if let failure = outcome.failure { failures[outcome.index] = failure } else if let value = outcome.value { results[outcome.index] = value }
            }
            return (results, failures)
        }
    }

    /// Runs a batch in one transaction. Optimistically without savepoints (two statements fewer per
    /// delivery); if a handler fails, the batch runs again with a savepoint per delivery, so that only
    /// the failing ones are rolled back.
    private static func commit(_ batch: [(index: Int, envelope: Envelope, attempt: Int, prepared: JSONValue?)], component: String, pool: PostgresPool,
                               handler: @escaping Handler, classify: @escaping @Sendable (any Error) -> FailureDisposition,
                               maxAttempts: Int) async throws -> ([Int: HandlerFailure], Int) {
        struct HandlerFailed: Error { let index: Int; let failure: HandlerFailure }
        do {
            return try await pool.transaction { db in
                let context = DeliveryContext(db: db, maxAttempts: maxAttempts, batch: batch.map(\.envelope))
                let ids = batch.map { $0.envelope.id.lowercasedString }
                var fresh = try context.recordFirstDeliveries(of: ids, component: component)
                var duplicates = 0
                for ((i, envelope, attempt, prepared), id) in zip(batch, ids) {
                    if fresh.remove(id) != nil {
                        context.attempt = attempt
                        context.prepared = prepared
                        do {
                            try handler(envelope, context)
                        } catch let error as PostgresError where error.isRetryable || error.isAbortedTransaction {
                            throw error         // retried whole; or an earlier handler's swallowed failure: find whose
                        } catch {
                            throw HandlerFailed(index: i, failure: HandlerFailure(description: "\(error)", disposition: classify(error)))
                        }
                    } else {
                        duplicates += 1
                    }
                }
                return ([:], duplicates)
            }
        } catch let failed as HandlerFailed {
            // The failed delivery is not run again in this attempt; the others are, each in a savepoint.
            return try await commitEachInSavepoint(batch, failed: [failed.index: failed.failure], component: component, pool: pool,
                                                   handler: handler, classify: classify, maxAttempts: maxAttempts)
        } catch let error where !isOutage(error) {
            // Not a handler's error but the batch's: a handler swallowed a failed statement (the aborted
            // transaction's COMMIT is refused), or the outbox write of what it emitted failed. Find which
            // delivery, each in a savepoint (its RELEASE, or its own outbox write, fails).
            return try await commitEachInSavepoint(batch, failed: [:], component: component, pool: pool,
                                                   handler: handler, classify: classify, maxAttempts: maxAttempts)
        }
    }

    /// The database is unreachable (or the pool shut down): not the batch's fault, so never counted as an
    /// attempt (see ``handle(_:after:)``).
    static func isOutage(_ error: any Error) -> Bool {
        guard let error = error as? PostgresError else { return false }
        return error.isRetryable || error.kind == .closed
    }

    /// The pool was shut down: waiting for it helps nothing.
    static func isPoolClosed(_ error: any Error) -> Bool { (error as? PostgresError)?.kind == .closed }

    /// The batch again, each delivery in a savepoint, so that only the failing ones (and those in `failed`,
    /// not run again) are rolled back.
    private static func commitEachInSavepoint(_ batch: [(index: Int, envelope: Envelope, attempt: Int, prepared: JSONValue?)], failed: [Int: HandlerFailure],
                                              component: String, pool: PostgresPool, handler: @escaping Handler,
                                              classify: @escaping @Sendable (any Error) -> FailureDisposition,
                                              maxAttempts: Int) async throws -> ([Int: HandlerFailure], Int) {
        try await pool.transaction { db in
            let context = DeliveryContext(db: db, maxAttempts: maxAttempts, batch: batch.map(\.envelope))
            var failures = failed
            var duplicates = 0
            for (i, envelope, attempt, prepared) in batch where failed[i] == nil {
                try db.query("SAVEPOINT troupe_delivery")
                do {
                    if try context.recordFirstDelivery(of: envelope.id.lowercasedString, component: component) {
                        context.attempt = attempt
                        context.prepared = prepared
                        try handler(envelope, context)
                        try context.writePending()
                    } else {
                        duplicates += 1
                    }
                    try db.query("RELEASE SAVEPOINT troupe_delivery")
                } catch let error as PostgresError where error.isRetryable {
                    throw error                                   // the whole batch runs again
                } catch {
                    context.discardPending()
                    try db.query("ROLLBACK TO SAVEPOINT troupe_delivery")
                    failures[i] = HandlerFailure(description: "\(error)", disposition: classify(error))
                }
            }
            return (failures, duplicates)
        }
    }

    /// Copies failed deliveries to their retry or dead queue (confirmed), then acks or requeues.
    /// - Returns: how many were sent to a retry queue, and to the dead queue.
    private func route(_ batch: [AMQPDelivery], _ outcomes: [Outcome]) async -> (retried: Int, dead: Int) {
        let component = configuration.component
        var copies: [(exchange: String, routingKey: String, message: AMQPMessage, tag: UInt64, retry: Bool)] = []
        var retried = 0, dead = 0
        for (delivery, outcome) in zip(batch, outcomes) {
            var message = delivery.message
            message.expiration = nil
            switch outcome {
            case .retry(let n, let reason):
                message.headers["x-attempts"] = .int(Int64(n))
                message.headers["x-error"] = .string(Self.bounded(reason))
                copies.append(("", WireTopology.retryQueue(component, attempt: n), message, delivery.tag, true))
                retried += 1
            case .dead(let n, let reason):
                message.headers["x-attempts"] = .int(Int64(n))
                message.headers["x-error"] = .string(Self.bounded(reason))
                message.headers["x-dead-at"] = .int(Int64(Date().timeIntervalSince1970 * 1000))
                message.headers["x-routing-key"] = .string(delivery.routingKey)
                copies.append(("", WireTopology.deadQueue(component), message, delivery.tag, false))
                dead += 1
                logger.warning("dead-lettered", metadata: ["id": "\(message.messageID ?? "?")", "reason": "\(reason)"])
            case .done, .requeue:
                continue
            }
        }
        // The deliveries whose copy is not confirmed go back to the queue; the others are acked.
        var unrouted = Set<UInt64>()
        if !copies.isEmpty {
            let failed = await publishCopies(copies.map { ($0.exchange, $0.routingKey, $0.message) })
            for i in failed { unrouted.insert(copies[i].tag) }
            if !failed.isEmpty {
                logger.error("could not route failed deliveries; they go back to the queue", metadata: ["count": "\(failed.count)"])
                retried -= copies.indices.filter { failed.contains($0) && copies[$0].retry }.count
                dead -= copies.indices.filter { failed.contains($0) && !copies[$0].retry }.count
            }
        }
        let unroutedTags = unrouted
        let back = { (delivery: AMQPDelivery, outcome: Outcome) -> Bool in
            if case .requeue = outcome { return true }
            return unroutedTags.contains(delivery.tag)
        }
        if let last = batch.last, !zip(batch, outcomes).contains(where: back) {
            consumer.ack(last, multiple: true)
        } else {
            for (delivery, outcome) in zip(batch, outcomes) {
                if back(delivery, outcome) { consumer.reject(delivery, requeue: true) } else { consumer.ack(delivery) }
            }
        }
        return (retried, dead)
    }

    /// Publishes retry and dead copies, confirmed; returns the indexes of those not confirmed (the broker
    /// unreachable). A copy the wire cannot carry (the headers it came with plus Troupe's no longer fit in a
    /// frame; a property over 255 bytes once decoded) goes again with Troupe's headers only and without such
    /// properties, saying what was dropped, so the message is kept rather than requeued for ever.
    private func publishCopies(_ copies: [(exchange: String, routingKey: String, message: AMQPMessage)]) async -> Set<Int> {
        do {
            try await publisher.publish(copies)
            return []
        } catch let rejection as AMQPPublishRejection {
            let indexes = rejection.reasons.keys.sorted()
            let plain = indexes.map { index in
                var copy = copies[index]
                let (message, droppedProperties) = copy.message.droppingLongProperties()
                copy.message = message
                copy.message.headers = copy.message.headers.filter { Self.ownHeaders.contains($0.key) }
                let what = droppedProperties.isEmpty ? "its headers" : "its headers and \(droppedProperties.joined(separator: ", "))"
                copy.message.headers["x-headers-dropped"] = .string(Self.bounded("\(what) could not be copied: \(rejection.reasons[index] ?? "")"))
                return copy
            }
            logger.warning("copied failed deliveries without what no longer fits", metadata: ["count": "\(plain.count)"])
            do {
                try await publisher.publish(plain)
                return []
            } catch let again as AMQPPublishRejection {
                logger.error("a failed delivery cannot be copied even bare; it goes back to the queue", metadata: ["reason": "\(again)"])
                return Set(again.reasons.keys.map { indexes[$0] })
            } catch {
                return Set(indexes)
            }
        } catch {
            logger.error("could not publish the copies of failed deliveries", metadata: ["reason": "\(error)"])
            return Set(copies.indices)
        }
    }

    /// The headers Troupe writes on the copies it routes.
    static let ownHeaders: Set<String> = ["x-attempts", "x-error", "x-dead-at", "x-routing-key"]

    /// `text` cut to at most 1,000 bytes of UTF-8 (at a character boundary): an `x-error` stays readable and
    /// far below a frame, whatever a handler's error said.
    static func bounded(_ text: String) -> String {
        guard text.utf8.count > 1000 else { return text }
        var cut = ""
        for c in text {
            guard cut.utf8.count + c.utf8.count <= 997 else { break }
            cut.append(c)
        }
        return cut + "..."
    }

    /// Which attempt this delivery is: 1 for a fresh message, n + 1 after `x-attempts: n`. The header comes
    /// from whoever published: a value that is not an integer counts as none, and the count is held within
    /// 0 ..< maxAttempts, so it never overflows nor names a retry queue that does not exist.
    private func attempt(of delivery: AMQPDelivery) -> Int {
        let previous = delivery.message.headers["x-attempts"]?.intValue ?? 0
        return Int(min(max(previous, 0), Int64(configuration.topology.maxAttempts - 1))) + 1
    }
}

/// One delivery's prepare step, as its task returns it.
struct PrepareOutcome: Sendable {
    let index: Int
    let value: JSONValue?
    let failure: HandlerFailure?
}

/// A handler error, carried out of the transaction as text with its classification.
struct HandlerFailure: Error, Sendable {
    let description: String
    let disposition: FailureDisposition
    /// The database was unreachable (a prepare step's read): not the delivery's fault.
    var outage = false
}

/// The waits of a batch held while the database is unreachable: 200 ms doubling to 5 s, logged once.
struct OutagePause {
    private var delay = Duration.milliseconds(200)
    private var logged = false

    /// Waits, then says whether to try again: false once the consumer is closing.
    mutating func next(closing: () -> Bool, _ logger: Logger, _ message: Logger.Message, _ metadata: Logger.Metadata = [:]) async -> Bool {
        guard !closing() else { return false }
        if !logged { logger.error(message, metadata: metadata); logged = true }
        try? await Task.sleep(for: delay)
        delay = min(delay * 2, .seconds(5))
        return !closing()
    }
}
