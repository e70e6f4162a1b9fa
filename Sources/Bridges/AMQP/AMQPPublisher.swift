import DequeModule
import Foundation
import Logging
import Synchronization

/// Publishes with publisher confirms from one dedicated thread that owns its connection. Publishes are
/// pipelined: the thread sends whatever is queued without waiting, and reads confirms as they come.
/// `publish` returns once the broker confirmed the message. A nack, or a connection lost before the
/// confirm, means the message is published again (after reconnecting), so nothing confirmed-missing is
/// ever dropped; duplicates are possible and consumers deduplicate on the envelope id.
///
/// While the broker blocks the connection (`connection.blocked`: a memory or disk alarm), nothing more is
/// sent, so the thread never sits in a `send` the broker does not read: publishes wait until the broker
/// unblocks it, and ``close()`` then fails what waits instead of waiting for the alarm to clear.
/// After ``stopWaitingForTheBroker()`` (a node's shutdown) publishes the broker cannot take fail at once.
///
/// A message that can never be published (``AMQPMessage/unpublishableReason(exchange:routingKey:frameMax:)``)
/// fails alone: the rest of its call is still sent and confirmed, then the call throws
/// ``AMQPPublishRejection`` naming it; the connection is not given up for it. A connection lost right after
/// it was made is remade after a growing delay (``Backoff``), never in a tight loop.
public final class AMQPPublisher: Sendable {
    /// One publish waiting to be sent or confirmed: a message of a ``PublishCompletion``'s batch, by index
    /// (one reference to move around per message, not the message's strings and headers).
    struct Pending: Sendable {
        let done: PublishCompletion
        let index: Int
    }

    private struct Shared {
        var queue = Deque<Pending>()
        var closed = false
        /// Set by ``stopWaitingForTheBroker()``.
        var failFast = false
    }

    private let url: AMQPURL
    private let heartbeat: Int
    private let declare: @Sendable (AMQPConnection) throws -> Void
    private let logger: Logger
    private let shared = Mutex(Shared())
    private let signal = WakeSignal()
    private let stopped = StopLatch()
    private let reconnectCount = Atomic<Int>(0)
    private let confirmedCount = Atomic<Int>(0)
    private let connectedFlag = Atomic<Bool>(false)
    private let refusalState = Mutex<AMQPError?>(nil)
    private let blockedState = Mutex<String?>(nil)

    /// - Parameter declare: runs on every (re)connection before publishing, e.g. to declare the topology.
    public init(url: String, name: String = "publisher", heartbeat: Int = 10, logger: Logger = Logger(label: "troupe.amqp.publisher"),
                declare: @escaping @Sendable (AMQPConnection) throws -> Void = { _ in }) throws(AMQPError) {
        self.url = try AMQPURL(url)
        self.heartbeat = heartbeat
        self.declare = declare
        self.logger = logger
        DedicatedThread.start("troupe.amqp.\(name)") { [self] in run() }
    }

    /// Connections re-established after a loss.
    public var reconnects: Int { reconnectCount.load(ordering: .relaxed) }
    /// Messages the broker confirmed.
    public var confirmed: Int { confirmedCount.load(ordering: .relaxed) }
    /// Whether it holds an open connection to the broker now (for readiness checks).
    public var isConnected: Bool { connectedFlag.load(ordering: .relaxed) }
    /// Why the broker refused the last connection's declarations (e.g. a queue that exists with other
    /// arguments than those declared: a configuration error that retrying does not mend), until a
    /// connection succeeds; nil otherwise. The publisher keeps retrying meanwhile.
    public var refusal: AMQPError? { refusalState.withLock { $0 } }
    /// Why the broker blocks publishing now (e.g. "low on memory", "low on disk"), nil when it does not:
    /// publishes wait meanwhile. For readiness reports and metrics.
    public var blocked: String? { blockedState.withLock { $0 } }

    /// Publishes one message and returns when the broker confirmed it.
    public func publish(exchange: String, routingKey: String, _ message: AMQPMessage) async throws {
        try await publish([(exchange, routingKey, message)])
    }

    /// Publishes messages in order, pipelined, and returns when the broker confirmed all of them.
    public func publish(_ messages: [(exchange: String, routingKey: String, message: AMQPMessage)]) async throws {
        guard !messages.isEmpty else { return }
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            let done = PublishCompletion(messages, continuation: c)
            let refused = shared.withLock { s -> AMQPError? in
                if s.closed { return AMQPError(.closed, "the publisher was closed") }
                if s.failFast, let unavailable = unavailableReason { return AMQPError(.connection, "shutting down while \(unavailable)") }
                for i in messages.indices { s.queue.append(Pending(done: done, index: i)) }
                return nil
            }
            if let refused { done.fail(refused) } else { signal.wake() }
        }
    }

    /// From now on, publishes fail at once while the broker is unreachable or blocks publishing, and so do
    /// those waiting for it now; what the broker can take still goes out and is confirmed. For a node's
    /// shutdown, which must not wait for the broker: an outbox keeps what failed, and a relay publishes it later.
    public func stopWaitingForTheBroker() {
        shared.withLock { $0.failFast = true }
        signal.wake()
    }

    /// Why a publish would wait now, if it would. (Read under `shared`'s lock: nothing takes that lock while
    /// holding `blockedState`'s.)
    private var unavailableReason: String? {
        if let blocked { return "the broker blocks publishing (\(blocked))" }
        return isConnected ? nil : "the broker is unreachable"
    }

    /// Stops taking messages, waits until those taken are confirmed (or, if the broker cannot be
    /// reached, fails them), then closes the connection.
    public func close() async {
        shared.withLock { $0.closed = true }
        signal.wake()
        await stopped.wait()
    }

    // MARK: the connection thread

    private func run() {
        var connection: AMQPConnection?
        var unconfirmed = Deque<(tag: UInt64, pending: Pending)>()
        var nextTag: UInt64 = 1
        var backoff = Backoff()
        var down = false
        var everConnected = false

        func requeueUnconfirmed() {
            let items = unconfirmed.map(\.pending)
            unconfirmed.removeAll()
            shared.withLock { s in for p in items.reversed() { s.queue.prepend(p) } }
        }

        /// Takes every message queued and not yet sent.
        func takeQueued() -> [Pending] {
            shared.withLock { s -> [Pending] in defer { s.queue.removeAll() }; return Array(s.queue) }
        }

        /// Notes the connection's blocked state: published to ``blocked`` (and logged) only when it changes,
        /// so the sending loop takes no lock for it. Returns true while blocked.
        var blockedNow: String?
        func noteBlocked(_ reason: String?, log: Bool = true) -> Bool {
            guard reason != blockedNow else { return reason != nil }
            if log, let reason {
                logger.warning("the broker blocks publishing; publishes wait until it unblocks", metadata: ["reason": "\(reason)"])
            } else if log {
                logger.info("the broker unblocked publishing")
            }
            blockedNow = reason
            blockedState.withLock { $0 = reason }
            return reason != nil
        }

        /// Waits `delay` out: a publish's wake-up does not cut it short (that would reconnect at once, again and
        /// again, under steady publishing); closing or a shutdown's fail-fast that begins meanwhile does.
        func pause(_ delay: Duration) {
            let deadline = ContinuousClock.now + delay
            let failFastBefore = shared.withLock { $0.failFast }
            while true {
                let (closed, failFast) = shared.withLock { ($0.closed, $0.failFast) }
                let left = deadline - .now
                if closed || failFast != failFastBefore || left <= .zero { return }
                _ = signal.wait(socket: nil, milliseconds: Int32(max(1, left.inSeconds * 1000)))
            }
        }

        while true {
            let (closed, failFast, queued) = shared.withLock { ($0.closed, $0.failFast, $0.queue.count) }
            if closed, queued == 0, unconfirmed.isEmpty { break }
            if closed || failFast, let conn = connection, let reason = conn.blockedReason {
                // The alarm may last: fail what waits (an outbox keeps its rows and publishes them later).
                let waiting = unconfirmed.map(\.pending) + takeQueued()
                unconfirmed.removeAll()
                if !waiting.isEmpty {
                    let error = AMQPError(.connection, "\(closed ? "closed" : "shutting down") while the broker blocks publishing (\(reason))")
                    for p in waiting { p.done.fail(error) }
                }
                if closed { break }
            }

            guard let conn = connection else {
                do {
                    let conn = try AMQPConnection(url: url, heartbeat: heartbeat)
                    try conn.confirmSelect()
                    try declare(conn)
                    connection = conn
                    connectedFlag.store(true, ordering: .relaxed)
                    refusalState.withLock { $0 = nil }
                    nextTag = 1
                    backoff.connected(at: .now)
                    if everConnected { reconnectCount.add(1, ordering: .relaxed) }
                    if down { logger.info("AMQP publisher reconnected", metadata: ["broker": "\(url.host):\(url.port)"]) }
                    down = false
                    everConnected = true
                } catch {
                    refusalState.withLock { $0 = AMQPError.refusal(in: error) }
                    if !down { AMQPError.logRetry("publisher", error, on: logger) }
                    down = true
                    if closed || failFast {
                        // Closing (or shutting down) with the broker gone: fail what is left rather than wait.
                        let why = (error as? AMQPError)?.message ?? "\(error)"
                        for p in takeQueued() { p.done.fail(AMQPError(.connection, "\(closed ? "closed" : "shutting down") while the broker was unreachable: \(why)")) }
                        if closed { continue }
                    }
                    pause(backoff.failed())
                }
                continue
            }

            // Send everything queued, without waiting (nothing while the broker blocks the connection).
            let batch = noteBlocked(conn.blockedReason) ? [] : takeQueued()
            var failed = false
            for (i, p) in batch.enumerated() {
                do {
                    try p.done.send(p.index, on: conn)
                    unconfirmed.append((nextTag, p))
                    nextTag += 1
                } catch where error.kind == .unpublishable {
                    // Never retried: this message fails alone (nothing of it was sent: the connection goes on),
                    // and its call learns why once the rest settled.
                    logger.error("a message can never be published; it fails alone", metadata: ["reason": "\(error.message)"])
                    p.done.reject(p.index, error.message)
                } catch {
                    shared.withLock { s in for q in batch[i...].reversed() { s.queue.prepend(q) } }
                    failed = true
                    break
                }
            }

            // Wait for confirms (or new work), then read what arrived; this also keeps heartbeats going.
            if !failed {
                if !conn.hasBufferedInput { _ = signal.wait(socket: conn.socket, milliseconds: Int32(max(1, heartbeat) * 250)) }
                do {
                    for confirm in try conn.readConfirms(timeout: timeval(tv_sec: 0, tv_usec: 0)) {
                        settle(confirm, &unconfirmed)
                    }
                    _ = noteBlocked(conn.blockedReason)
                } catch {
                    failed = true
                }
            }
            if failed {
                logger.warning("AMQP publisher lost its connection; re-publishing unconfirmed messages", metadata: ["unconfirmed": "\(unconfirmed.count)"])
                down = true
                requeueUnconfirmed()
                connection = nil
                connectedFlag.store(false, ordering: .relaxed)
                _ = noteBlocked(nil, log: false)           // a new connection starts unblocked
                if closed {
                    // Closing: what the lost connection did not confirm fails now, not after reconnecting (a
                    // connection that fails at every publish would otherwise keep close() waiting for ever).
                    for p in takeQueued() { p.done.fail(AMQPError(.connection, "closed while the connection to the broker failed")) }
                    continue
                }
                pause(backoff.lost(at: .now))
            }
        }
        if let conn = connection, conn.blockedReason != nil { conn.broken() }   // the broker would not read a polite close
        connection = nil
        connectedFlag.store(false, ordering: .relaxed)
        stopped.open()
    }

    /// Resolves the publishes a confirm covers: acked ones complete, nacked ones are queued again.
    private func settle(_ confirm: (tag: UInt64, multiple: Bool, ack: Bool), _ unconfirmed: inout Deque<(tag: UInt64, pending: Pending)>) {
        var covered: [Pending] = []
        if confirm.multiple {
            while let first = unconfirmed.first, first.tag <= confirm.tag { covered.append(unconfirmed.removeFirst().pending) }
        } else if let i = unconfirmed.firstIndex(where: { $0.tag == confirm.tag }) {
            covered.append(unconfirmed.remove(at: i).pending)
        }
        if confirm.ack {
            confirmedCount.add(covered.count, ordering: .relaxed)
            // one completion update per run of messages from the same publish call
            var i = 0
            while i < covered.count {
                var j = i + 1
                while j < covered.count, covered[j].done === covered[i].done { j += 1 }
                covered[i].done.succeed(j - i)
                i = j
            }
        } else {
            logger.warning("broker nacked \(covered.count) message(s); publishing again")
            shared.withLock { s in for p in covered.reversed() { s.queue.prepend(p) } }
        }
    }
}

/// One `publish` call: its messages, and its continuation, resumed when all of them are confirmed
/// or failed once.
final class PublishCompletion: Sendable {
    let messages: [(exchange: String, routingKey: String, message: AMQPMessage)]
    private struct State {
        var remaining: Int
        var continuation: CheckedContinuation<Void, any Error>?
        /// Messages that can never be published, by index, with why.
        var rejected: [Int: String] = [:]

        /// The continuation, taken, once every message is confirmed or rejected; and how to resume it.
        mutating func takeIfSettled() -> (CheckedContinuation<Void, any Error>, (any Error)?)? {
            guard remaining <= 0, let c = continuation else { return nil }
            continuation = nil
            return (c, rejected.isEmpty ? nil : AMQPPublishRejection(reasons: rejected))
        }
    }
    private let state: Mutex<State>

    init(_ messages: [(exchange: String, routingKey: String, message: AMQPMessage)], continuation: CheckedContinuation<Void, any Error>) {
        self.messages = messages
        state = Mutex(State(remaining: messages.count, continuation: continuation))
    }

    /// Sends message `index` on `connection`, read in place (not copied: this runs once per message).
    func send(_ index: Int, on connection: AMQPConnection) throws(AMQPError) {
        try messages.withUnsafeBufferPointer { (m) throws(AMQPError) in
            let item = m.baseAddress! + index
            try connection.publish(exchange: item.pointer(to: \.exchange)!.pointee, routingKey: item.pointer(to: \.routingKey)!.pointee,
                                   item.pointer(to: \.message)!.pointee)
        }
    }

    /// `count` more of its messages were confirmed.
    func succeed(_ count: Int) {
        resume(state.withLock { s in
            s.remaining -= count
            return s.takeIfSettled()
        })
    }

    /// Message `index` can never be published, for `reason`.
    func reject(_ index: Int, _ reason: String) {
        resume(state.withLock { s in
            s.remaining -= 1
            s.rejected[index] = reason
            return s.takeIfSettled()
        })
    }

    private func resume(_ settled: (CheckedContinuation<Void, any Error>, (any Error)?)?) {
        guard let (c, error) = settled else { return }
        if let error { c.resume(throwing: error) } else { c.resume() }
    }

    func fail(_ error: any Error) {
        let c = state.withLock { s -> CheckedContinuation<Void, any Error>? in
            defer { s.continuation = nil }
            return s.continuation
        }
        c?.resume(throwing: error)
    }
}
