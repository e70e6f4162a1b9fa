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
/// mailbox or a prefetch slot; at most ``perRecipient`` sends go to one recipient at once, so a slow
/// endpoint keeps only those slots. At shutdown it stops claiming and lets the sends in flight end; one cut
/// off is sent again when its lease runs out (receivers drop repeats by the event id).
struct NotificationSender: Service {
    static let perRecipient = 4
    static let poll: Duration = .seconds(1)

    let pool: PostgresPool
    let settings: Topology.Notification
    let vault: CardVault
    let logger: Logger

    func run() async throws {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = settings.concurrency   // receivers may share a host
        // An endpoint that refuses connections fails the attempt at once (it is retried on the delivery's
        // schedule), instead of holding a slot while the client tries to connect again until the timeout.
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(5)
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
        let lease = settings.webhookTimeout * 2 + .seconds(30)
        // Attempts are recorded by one task, in batches (a transaction for whatever ended meanwhile).
        let ended = Ended()
        let (recordWake, recordRing) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let recorder = Task {
            for await _ in recordWake { await record(ended) }
            await record(ended)
        }
        // A claim is a query: made when a few slots are free (or none is busy), not after every send.
        let claimAt = max(1, min(16, settings.concurrency / 4))
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                for await _ in wake {
                    let (busy, free) = inFlight.counts.withLock { counts in
                        (counts.filter { $0.value >= Self.perRecipient }.map(\.key), settings.concurrency - counts.values.reduce(0, +))
                    }
                    guard free >= claimAt || free == settings.concurrency else { continue }
                    let claimed: [DeliveryLog.Claimed]
                    do {
                        claimed = try await pool.transaction { db in
                            try DeliveryLog.claim(limit: free, busy: busy, perRecipient: Self.perRecipient, lease: lease, on: db)
                        }
                    } catch {
                        logger.warning("notification deliveries not claimed", metadata: ["reason": "\(error)"])
                        continue
                    }
                    for delivery in claimed {
                        inFlight.counts.withLock { $0[delivery.recipient, default: 0] += 1 }
                        group.addTask {
                            let attempt = await send(delivery, http: http, smtp: smtp)
                            ended.attempts.withLock { $0.append((attempt, delivery)) }
                            recordRing.yield()
                            inFlight.counts.withLock { counts in
                                counts[delivery.recipient]! -= 1
                                if counts[delivery.recipient] == 0 { counts[delivery.recipient] = nil }
                            }
                            ring.yield()
                        }
                    }
                    if claimed.count == free { ring.yield() }            // there may be more
                }
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

    /// Records every attempt that ended, in one transaction.
    private func record(_ ended: Ended) async {
        let batch = ended.attempts.withLock { attempts in defer { attempts = [] }; return attempts }
        guard !batch.isEmpty else { return }
        do {
            let outcomes = try await pool.transaction { [settings] db in try DeliveryLog.record(batch, schedule: settings.retry, on: db) }
            for ((_, delivery), outcome) in zip(batch, outcomes) {
                guard case .failed(let reason) = outcome else { continue }
                logger.warning("notification not delivered", metadata: ["delivery": "\(delivery.id)", "channel": "\(delivery.channel)", "reason": "\(reason)"])
            }
        } catch {
            // their leases run out and they are sent again
            logger.warning("notification attempts not recorded", metadata: ["count": "\(batch.count)", "reason": "\(error)"])
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
