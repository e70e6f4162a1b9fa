import ActorRuntime
import AsyncHTTPClient
import Bridges
import Domain
import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// Sends Notification's deliveries on a node that hosts Notification: claims due deliveries from the log
/// (``DeliveryLog``), sends each in a task of its own (webhooks over HTTP, signed; email over SMTP), and
/// records each attempt with what comes next. Woken when deliveries are recorded in this process, when a
/// send ends, and every second for retries that came due.
///
/// No head-of-line blocking: a delivery waiting for its retry is a row with a time, not a message held in a
/// mailbox or a prefetch slot; at most ``perRecipient`` sends go to one recipient (all email: to the SMTP
/// server) at once, so a slow endpoint keeps only those slots. At shutdown it stops claiming and lets the
/// sends in flight end for ``shutdownGrace``; one cut off is sent again when its lease runs out (receivers
/// drop repeats by the event id).
struct NotificationSender: Service {
    static let perRecipient = 4
    static let poll: Duration = .seconds(1)
    /// How long free slots fewer than half wait for others before they are claimed for.
    static let claimPause: Duration = .milliseconds(50)
    /// How long the recorder waits after a send ends for others to record with it.
    static let recordGather: Duration = .milliseconds(20)

    let pool: PostgresPool
    let settings: Topology.Notification
    let vault: CardVault
    let logger: Logger

    /// At shutdown, how long sends in flight may go on before they are cancelled (and sent again later):
    /// the node's whole graceful shutdown has 9 s, and the services stopped after this one need some.
    static let shutdownGrace: Duration = .seconds(4)

    struct ShutdownDeadline: Error {}

    func run() async throws {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = settings.concurrency   // receivers may share a host
        // An endpoint that refuses connections fails the attempt at once (it is retried on the delivery's
        // schedule), instead of holding a slot while the client tries to connect again until the timeout.
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(5)
        // A redirect is not followed: the client would turn a 301-303 into a GET without the body, and take the
        // signature to another URL. It is a failed attempt, retried like a 5xx (as Stripe does).
        configuration.redirectConfiguration = .disallow
        let http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        let smtp = settings.smtp.map(SMTPClient.init)
        let (wake, ring) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let token = Notification.bell.listen { ring.yield() }
        let ticker = Task {
            while !Task.isCancelled {
                ring.yield()
                try? await Task.sleep(for: Self.poll)
            }
        }
        let inFlight = InFlight()
        let lease = max(settings.webhookTimeout, settings.smtp?.timeout ?? .zero) * 2 + .seconds(30)
        // Attempts are recorded by one task, in batches (a transaction for whatever ended meanwhile); a batch
        // whose transaction fails is kept and tried again, so a send that succeeded is not sent again.
        let ended = Ended()
        let (recordWake, recordRing) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let recorder = Task {
            for await _ in recordWake {
                // what ends within a few milliseconds goes in the same transaction (two statements for all)
                try? await Task.sleep(for: Self.recordGather)
                var delay = Duration.milliseconds(500)
                while await !record(ended) {
                    try? await Task.sleep(for: delay)
                    delay = min(delay * 2, .seconds(8))
                }
            }
            for _ in 0..<3 where await !record(ended) { try? await Task.sleep(for: .milliseconds(500)) }
        }
        // A claim is a query (a few milliseconds of the database's time, whatever it takes): made when half
        // the slots are free (or none is busy), not after every send; fewer free slots are claimed for once
        // they have waited `claimPause` (slow receivers may keep the others for as long as their timeout).
        let claimAt = max(1, settings.concurrency / 2)
        var recheck: ContinuousClock.Instant?
        await withGracefulShutdownHandler {
            do {
                try await withThrowingDiscardingTaskGroup { group in
                    for await _ in wake {
                        let (counts, free) = inFlight.counts.withLock { ($0, settings.concurrency - $0.values.reduce(0, +)) }
                        guard free > 0 else { continue }
                        if free < claimAt && free < settings.concurrency {
                            let now = ContinuousClock.now
                            guard let at = recheck else {
                                recheck = now + Self.claimPause
                                group.addTask { try? await Task.sleep(for: Self.claimPause); ring.yield() }
                                continue
                            }
                            guard now >= at else { continue }
                        }
                        recheck = nil
                        let claimed: [DeliveryLog.Claimed]
                        do {
                            claimed = try await pool.transaction { db in
                                try DeliveryLog.claim(limit: free, inFlight: counts, perRecipient: Self.perRecipient, lease: lease, on: db)
                            }
                        } catch {
                            logger.warning("notification deliveries not claimed", metadata: ["reason": "\(error)"])
                            continue
                        }
                        for delivery in claimed {
                            inFlight.counts.withLock { $0[delivery.slot, default: 0] += 1 }
                            group.addTask {
                                let attempt = await send(delivery, http: http, smtp: smtp)
                                ended.attempts.withLock { $0.append((attempt, delivery)) }
                                recordRing.yield()
                                inFlight.counts.withLock { counts in
                                    counts[delivery.slot, default: 1] -= 1
                                    if counts[delivery.slot] == 0 { counts[delivery.slot] = nil }
                                }
                                ring.yield()
                            }
                        }
                        if claimed.count == free { ring.yield() }            // there may be more
                    }
                    // Shutting down: no more claims; the sends in flight get a grace period, then are cancelled.
                    group.addTask {
                        let deadline = ContinuousClock.now + Self.shutdownGrace
                        while inFlight.counts.withLock({ !$0.isEmpty }) {
                            guard ContinuousClock.now < deadline else { throw ShutdownDeadline() }
                            try? await Task.sleep(for: .milliseconds(20))
                        }
                    }
                }
            } catch {
                logger.warning("notification sends cut off at shutdown; they are sent again after their lease", metadata: ["reason": "\(error)"])
            }
        } onGracefulShutdown: {
            ring.finish()
        }
        recordRing.finish()
        await recorder.value
        ticker.cancel()
        Notification.bell.stopListening(token)
        try? await http.shutdown()
    }

    /// Sends in flight, per recipient.
    private final class InFlight: Sendable {
        let counts = Mutex<[String: Int]>([:])
    }

    /// Sends that ended and are not recorded yet.
    private final class Ended: Sendable {
        let attempts = Mutex<[(DeliveryLog.Attempt, DeliveryLog.Claimed)]>([])
    }

    private func send(_ delivery: DeliveryLog.Claimed, http: HTTPClient, smtp: SMTPClient?) async -> DeliveryLog.Attempt {
        switch delivery.channel {
        case "webhook": await sendWebhook(delivery, http: http)
        default: await sendEmail(delivery, smtp: smtp)
        }
    }

    /// Records every attempt that ended, in one transaction; false (and the attempts kept) if it failed.
    private func record(_ ended: Ended) async -> Bool {
        let batch = ended.attempts.withLock { attempts in defer { attempts = [] }; return attempts }
        guard !batch.isEmpty else { return true }
        do {
            let outcomes = try await pool.transaction { [settings] db in try DeliveryLog.record(batch, schedule: settings.retry, on: db) }
            for ((_, delivery), outcome) in zip(batch, outcomes) {
                guard case .failed(let reason) = outcome else { continue }
                logger.warning("notification not delivered", metadata: ["delivery": "\(delivery.id)", "channel": "\(delivery.channel)", "reason": "\(reason)"])
            }
            return true
        } catch {
            ended.attempts.withLock { $0.insert(contentsOf: batch, at: 0) }
            logger.warning("notification attempts not recorded yet", metadata: ["count": "\(batch.count)", "reason": "\(error)"])
            return false
        }
    }

    private func sendWebhook(_ delivery: DeliveryLog.Claimed, http: HTTPClient) async -> DeliveryLog.Attempt {
        let started = Date(), clock = ContinuousClock.now
        func attempt(_ code: Int?, _ error: String?, permanent: Bool = false, retryAfter: Duration? = nil) -> DeliveryLog.Attempt {
            DeliveryLog.Attempt(started: started, duration: ContinuousClock.now - clock, code: code, error: error, permanent: permanent, retryAfter: retryAfter)
        }
        guard let partner = delivery.partner, let sealed = delivery.sealedSecret,
              case .string(let secret)? = try? vault.open(sealed, context: PartnerRegistry.webhookContext(partner)) else {
            return attempt(nil, "the partner's webhook secret is missing or does not open with this node's card key", permanent: true)
        }
        let body = Array(delivery.body.utf8)
        var request = HTTPClientRequest(url: delivery.recipient)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        request.headers.add(name: "user-agent", value: "Troupe-Webhooks/1")
        request.headers.add(name: WebhookSignature.header, value: WebhookSignature.sign(body, secret: secret))
        request.headers.add(name: WebhookSignature.eventHeader, value: delivery.eventID.lowercasedString)
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            let response = try await http.execute(request, timeout: .milliseconds(Int64(settings.webhookTimeout.inSeconds * 1000)))
            _ = try? await response.body.collect(upTo: 64 * 1024)
            let code = Int(response.status.code)
            if (200..<300).contains(code) { return attempt(code, nil) }
            let retryAfter = response.headers.first(name: "retry-after").flatMap(Int.init).map { Duration.seconds(max(0, $0)) }
            // 4xx other than 408 (timeout) and 429 (slow down): the receiver refuses it, and will again
            let permanent = (400..<500).contains(code) && code != 408 && code != 429
            return attempt(code, "HTTP \(code)", permanent: permanent, retryAfter: retryAfter)
        } catch {
            return attempt(nil, "\(error)")
        }
    }

    private func sendEmail(_ delivery: DeliveryLog.Claimed, smtp: SMTPClient?) async -> DeliveryLog.Attempt {
        let started = Date(), clock = ContinuousClock.now
        guard let smtp else {
            return DeliveryLog.Attempt(started: started, duration: .zero, code: nil, error: "SMTP is not configured on this node", permanent: true)
        }
        let message = EmailMessage(to: delivery.recipient, subject: delivery.subject, body: delivery.body,
                                   messageID: "\(delivery.eventID.lowercasedString).\(delivery.id)@troupe")
        do {
            try await smtp.send(message)
            return DeliveryLog.Attempt(started: started, duration: ContinuousClock.now - clock, code: 250, error: nil)
        } catch let error as SMTPError {
            return DeliveryLog.Attempt(started: started, duration: ContinuousClock.now - clock, code: error.code, error: error.description, permanent: error.permanent)
        } catch {
            return DeliveryLog.Attempt(started: started, duration: ContinuousClock.now - clock, code: nil, error: "\(error)")
        }
    }
}
