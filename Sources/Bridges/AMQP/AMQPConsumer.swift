import DequeModule
import Foundation
import Logging
import Synchronization

/// Consumes one queue with manual acks from a dedicated thread that owns its connection. Deliveries
/// are taken in batches with ``next(max:)``; `basic.qos` prefetch bounds how many are unacked at once, so a slow
/// handler holds the broker back instead of filling memory. Acks and rejects are handed to the thread.
///
/// When the broker goes away the thread reconnects with backoff and consumes again; deliveries of the
/// lost connection can no longer be acked (their acks are dropped) and the broker redelivers them, so
/// handlers must be idempotent (the inbox). ``pause()`` cancels the consumer (`basic.cancel`: messages
/// stay in the queue) until ``resume()``.
public final class AMQPConsumer: Sendable {
    enum Command: Sendable {
        case ack(UInt64, multiple: Bool, generation: Int)
        case reject(UInt64, requeue: Bool, generation: Int)
        case pause, resume, drain
    }

    private struct Shared {
        var commands = Deque<Command>()
        var closed = false
    }

    public let queue: String
    private let url: AMQPURL
    private let prefetch: Int
    private let heartbeat: Int
    private let declare: @Sendable (AMQPConnection) throws -> Void
    private let logger: Logger
    private let shared = Mutex(Shared())
    private let signal = WakeSignal()
    private let stopped = StopLatch()
    private let buffer = DeliveryBuffer()
    private let consuming = Atomic<Bool>(false)
    private let reconnectCount = Atomic<Int>(0)

    /// - Parameters:
    ///   - prefetch: unacked deliveries at most (tie it to the consuming actor's mailbox capacity).
    ///   - declare: runs on every (re)connection before consuming, e.g. to declare the topology.
    public init(url: String, queue: String, prefetch: Int, heartbeat: Int = 10, logger: Logger = Logger(label: "troupe.amqp.consumer"),
                declare: @escaping @Sendable (AMQPConnection) throws -> Void = { _ in }) throws(AMQPError) {
        self.url = try AMQPURL(url)
        self.queue = queue
        self.prefetch = max(1, prefetch)
        self.heartbeat = heartbeat
        self.declare = declare
        self.logger = logger
        DedicatedThread.start("troupe.amqp.consume.\(queue)") { [self] in run() }
    }

    /// Waits for deliveries and returns those waiting, in order, at most `max`; empty once closed.
    public func next(max: Int) async -> [AMQPDelivery] { await buffer.take(max: max) }

    /// Deliveries received from the broker and not taken by ``next(max:)`` yet: the consumer's mailbox depth.
    public var buffered: Int { buffer.count }

    /// True while the broker delivers to this consumer (connected and not paused).
    public var isConsuming: Bool { consuming.load(ordering: .relaxed) }
    /// Connections re-established after a loss.
    public var reconnects: Int { reconnectCount.load(ordering: .relaxed) }

    /// Acknowledges a delivery (with `multiple`, every earlier one of its connection too).
    public func ack(_ delivery: AMQPDelivery, multiple: Bool = false) {
        send(.ack(delivery.tag, multiple: multiple, generation: delivery.generation))
    }

    /// Rejects a delivery: back to the queue, or dropped (use only after copying it elsewhere).
    public func reject(_ delivery: AMQPDelivery, requeue: Bool) {
        send(.reject(delivery.tag, requeue: requeue, generation: delivery.generation))
    }

    /// Stops deliveries (`basic.cancel`); messages stay in the queue.
    public func pause() { send(.pause) }

    /// Consumes again after ``pause()``.
    public func resume() { send(.resume) }

    /// Stops deliveries for good (`basic.cancel`), hands over those that arrived before the broker
    /// answered, then ends ``next(max:)`` once they are taken; the connection stays open, so what is being
    /// handled can still be acked. Then ``close()``. (A graceful stop: nothing committed is redelivered.)
    public func drain() { send(.drain) }

    /// Stops consuming and closes the connection; unacked deliveries go back to the queue.
    public func close() async {
        shared.withLock { $0.closed = true }
        signal.wake()
        await stopped.wait()
    }

    private func send(_ command: Command) {
        shared.withLock { $0.commands.append(command) }
        signal.wake()
    }

    // MARK: the connection thread

    private func run() {
        var connection: AMQPConnection?
        var consumerTag: String?
        var paused = false
        var generation = 0
        var backoff = Backoff()
        var down = false
        var acks = AckCoalescer()
        var draining = false

        /// Waits `delay` out: acks handed over meanwhile do not cut it short; closing does.
        func pause(_ delay: Duration) {
            let deadline = ContinuousClock.now + delay
            while !shared.withLock({ $0.closed }) {
                let left = deadline - .now
                if left <= .zero { return }
                _ = signal.wait(socket: nil, milliseconds: Int32(max(1, left.inSeconds * 1000)))
            }
        }

        while true {
            let (closed, commands) = shared.withLock { s -> (Bool, [Command]) in
                defer { s.commands.removeAll() }
                return (s.closed, Array(s.commands))
            }
            guard let conn = connection else {
                if closed { break }
                for command in commands {
                    if case .pause = command { paused = true }
                    if case .resume = command { paused = false }
                    if case .drain = command { draining = true }
                }
                if draining {
                    // Draining without a connection: nothing more will come, and nothing can be acked.
                    buffer.finish()
                    _ = signal.wait(socket: nil, milliseconds: 1000)
                    continue
                }
                do {
                    let conn = try AMQPConnection(url: url, heartbeat: heartbeat)
                    try conn.qos(prefetch: prefetch)
                    try declare(conn)
                    consumerTag = paused ? nil : try conn.consume(queue: queue)
                    connection = conn
                    acks = AckCoalescer()
                    generation += 1
                    if generation > 1 { reconnectCount.add(1, ordering: .relaxed) }
                    consuming.store(!paused, ordering: .relaxed)
                    backoff.connected(at: .now)
                    if down { logger.info("AMQP consumer reconnected", metadata: ["queue": "\(queue)"]) }
                    down = false
                } catch {
                    if !down { AMQPError.logRetry("consumer", error, on: logger, ["queue": "\(queue)"]) }
                    down = true
                    pause(backoff.failed())
                }
                continue
            }

            do {
                for command in commands {
                    switch command {
                    case .ack(let tag, let multiple, let g) where g == generation: acks.acked(tag, multiple: multiple)
                    case .reject(let tag, let requeue, let g) where g == generation:
                        if let upTo = acks.takeAckable() { try conn.ack(upTo, multiple: true) }   // acks before, in order
                        try conn.reject(tag, requeue: requeue)
                        acks.rejected(tag)
                    case .ack, .reject: continue                 // from a lost connection: the broker redelivers
                    case .pause:
                        paused = true
                        if let tag = consumerTag { try conn.cancel(consumerTag: tag); consumerTag = nil }
                        consuming.store(false, ordering: .relaxed)
                    case .resume where !draining:
                        paused = false
                        if consumerTag == nil { consumerTag = try conn.consume(queue: queue) }
                        consuming.store(true, ordering: .relaxed)
                    case .resume:
                        continue
                    case .drain:
                        draining = true
                        if let tag = consumerTag { try conn.cancel(consumerTag: tag); consumerTag = nil }
                        consuming.store(false, ordering: .relaxed)
                        // Deliveries that arrived before the broker answered the cancel are ours to handle.
                        while let delivery = try conn.nextDelivery(timeout: timeval(tv_sec: 0, tv_usec: 0), generation: generation) {
                            acks.delivered(delivery.tag)
                            buffer.push(delivery)
                        }
                        buffer.finish()
                    }
                }
                // One multiple-ack for every delivery settled in order so far (rejected ones are no longer
                // outstanding at the broker, so it does not touch them).
                if let upTo = acks.takeAckable() { try conn.ack(upTo, multiple: true) }
                if closed { break }                              // acks sent first; the rest is redelivered
                if !conn.hasBufferedInput { _ = signal.wait(socket: conn.socket, milliseconds: Int32(max(1, heartbeat) * 250)) }
                // Take what arrived (bounded, so acks are not starved); a zero-timeout read also keeps heartbeats going.
                for _ in 0..<prefetch {
                    guard let delivery = try conn.nextDelivery(timeout: timeval(tv_sec: 0, tv_usec: 0), generation: generation) else { break }
                    acks.delivered(delivery.tag)
                    buffer.push(delivery)
                }
            } catch {
                logger.warning("AMQP consumer lost its connection; reconnecting", metadata: ["queue": "\(queue)", "reason": "\(error)"])
                down = true
                consuming.store(false, ordering: .relaxed)
                connection = nil
                consumerTag = nil
                // Not at once: a connection lost right after it was made would otherwise be remade in a loop.
                if !closed { pause(backoff.lost(at: .now)) }
            }
        }
        consuming.store(false, ordering: .relaxed)
        connection = nil
        buffer.finish()
        stopped.open()
    }
}

/// Turns acks that arrive one by one into one `basic.ack(multiple)` for the longest prefix of the
/// deliveries (in delivery order) that are all settled. The multiple-ack goes up to the last *acked*
/// tag of that prefix: rejected deliveries are no longer outstanding at the broker, and a multiple-ack
/// naming one would be refused. Confined to the consumer's thread.
struct AckCoalescer {
    private var outstanding = Deque<UInt64>()
    /// Settled out of order: true when acked, false when rejected.
    private var settled: [UInt64: Bool] = [:]
    private var pendingAck: UInt64?

    mutating func delivered(_ tag: UInt64) { outstanding.append(tag) }

    mutating func acked(_ tag: UInt64, multiple: Bool) {
        if multiple {
            while let first = outstanding.first, first <= tag {
                outstanding.removeFirst()
                if settled.removeValue(forKey: first) != false { pendingAck = first }
            }
        } else {
            settled[tag] = true
        }
        drain()
    }

    mutating func rejected(_ tag: UInt64) {
        settled[tag] = false
        drain()
    }

    private mutating func drain() {
        while let first = outstanding.first, let wasAck = settled.removeValue(forKey: first) {
            outstanding.removeFirst()
            if wasAck { pendingAck = first }
        }
    }

    /// The tag to ack with `multiple` now, if any.
    mutating func takeAckable() -> UInt64? {
        defer { pendingAck = nil }
        return pendingAck
    }
}
