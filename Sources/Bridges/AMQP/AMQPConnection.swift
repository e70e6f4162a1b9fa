import CRabbitMQ
import Foundation

/// One librabbitmq connection with one channel. Not thread-safe and blocking: it is created, used and
/// destroyed on one dedicated thread (``AMQPPublisher``, ``AMQPConsumer``, or a short-lived operator job).
public final class AMQPConnection {
    let state: amqp_connection_state_t
    let channel: amqp_channel_t = 1
    private let scratch = PublishScratch()
    private var open = false
    /// Why the broker blocks publishing on this connection (`connection.blocked`: a memory or disk alarm),
    /// as its last notification said; nil when it does not. Read by ``readConfirms(timeout:)``.
    private(set) var blockedReason: String?

    /// Connects, logs in (heartbeat on, frame size negotiated from `frameMax`) and opens channel 1.
    public init(url: AMQPURL, heartbeat: Int = 10, frameMax: Int = 131_072, connectTimeout: Int = 5) throws(AMQPError) {
        guard let state = amqp_new_connection() else { throw AMQPError(.connection, "out of memory") }
        // From here every property is set, so a throw runs deinit, which destroys the state (once).
        self.state = state
        guard let socket = amqp_tcp_socket_new(state) else { throw AMQPError(.connection, "cannot create a socket") }
        var timeout = timeval(tv_sec: connectTimeout, tv_usec: 0)
        let rc = amqp_socket_open_noblock(socket, url.host, Int32(url.port), &timeout)
        guard rc == AMQP_STATUS_OK.rawValue else {
            throw AMQPError(.connection, "cannot connect to \(url.host):\(url.port): \(String(cString: amqp_error_string2(rc)))")
        }
        let login = crmq_login_plain(state, url.vhost, 0, Int32(frameMax), Int32(heartbeat), url.user, url.password)
        if let error = Self.error(login, "login") { throw error }
        amqp_channel_open(state, channel)
        if let error = Self.error(amqp_get_rpc_reply(state), "channel.open") { throw error }
        open = true
    }

    deinit {
        if open {
            amqp_channel_close(state, channel, Int32(AMQP_REPLY_SUCCESS))
            amqp_connection_close(state, Int32(AMQP_REPLY_SUCCESS))
        }
        amqp_destroy_connection(state)
    }

    /// Marks the connection unusable (after a socket or protocol error, or while the broker blocks it and
    /// would not read a polite close): it is not closed politely.
    func broken() { open = false }

    public var isOpen: Bool { open }

    /// The frame size negotiated with the broker.
    var frameMax: Int { Int(amqp_get_frame_max(state)) }

    /// The socket, for `poll`.
    var socket: Int32 { amqp_get_sockfd(state) }

    /// Frames already read or queued that a `poll` on the socket would not announce.
    var hasBufferedInput: Bool { amqp_data_in_buffer(state) != 0 || amqp_frames_enqueued(state) != 0 }

    // MARK: declarations

    public func declareExchange(_ name: String, type: String = "topic") throws(AMQPError) {
        withAMQPBytes(name) { n in withAMQPBytes(type) { t in
            _ = amqp_exchange_declare(state, channel, n, t, 0, 1, 0, 0, amqp_empty_table)
        } }
        try check("exchange.declare \(name)")
    }

    /// Declares a durable queue; returns how many messages it holds.
    @discardableResult
    public func declareQueue(_ name: String, arguments: [String: AMQPValue] = [:]) throws(AMQPError) -> Int {
        let ok = withAMQPBytes(name) { n in AMQPTable.with(arguments) { args in amqp_queue_declare(state, channel, n, 0, 1, 0, 0, args) } }
        try check("queue.declare \(name)")
        return Int(ok?.pointee.message_count ?? 0)
    }

    /// How many messages `name` holds (passive declare: fails with 404 when it does not exist).
    public func messageCount(_ name: String) throws(AMQPError) -> Int {
        let ok = withAMQPBytes(name) { n in amqp_queue_declare(state, channel, n, 1, 0, 0, 0, amqp_empty_table) }
        try check("queue.declare passive \(name)")
        return Int(ok?.pointee.message_count ?? 0)
    }

    public func bind(queue: String, exchange: String, routingKey: String) throws(AMQPError) {
        withAMQPBytes(queue) { q in withAMQPBytes(exchange) { e in withAMQPBytes(routingKey) { k in
            _ = amqp_queue_bind(state, channel, q, e, k, amqp_empty_table)
        } } }
        try check("queue.bind \(queue) \(routingKey)")
    }

    @discardableResult
    public func purge(_ queue: String) throws(AMQPError) -> Int {
        let ok = withAMQPBytes(queue) { q in amqp_queue_purge(state, channel, q) }
        try check("queue.purge \(queue)")
        return Int(ok?.pointee.message_count ?? 0)
    }

    public func deleteQueue(_ queue: String) throws(AMQPError) {
        withAMQPBytes(queue) { q in _ = amqp_queue_delete(state, channel, q, 0, 0) }
        try check("queue.delete \(queue)")
    }

    // MARK: publishing

    /// Puts the channel in confirm mode: the broker acks (or nacks) every publish by delivery tag, from 1.
    public func confirmSelect() throws(AMQPError) {
        amqp_confirm_select(state, channel)
        try check("confirm.select")
    }

    /// Puts the channel in transaction mode: publishes and acks take effect together at ``txCommit()``, or
    /// not at all if the channel closes first. (Not with ``confirmSelect()`` on the same channel.)
    public func txSelect() throws(AMQPError) {
        amqp_tx_select(state, channel)
        try check("tx.select")
    }

    /// Commits the publishes and acks sent since the last commit, and waits for the broker's answer.
    public func txCommit() throws(AMQPError) {
        amqp_tx_commit(state, channel)
        try check("tx.commit")
    }

    /// Sends one message (does not wait for anything). A message that can never be published throws
    /// ``AMQPError/Kind/unpublishable`` before anything is sent, and the connection stays usable.
    public func publish(exchange: String, routingKey: String, _ message: AMQPMessage) throws(AMQPError) {
        if let why = message.unpublishableReason(exchange: exchange, routingKey: routingKey, frameMax: frameMax) {
            throw AMQPError(.unpublishable, why)
        }
        var props = properties(message)
        let rc = withAMQPBytes(exchange) { e in withAMQPBytes(routingKey) { k in
            message.body.withUnsafeBytes { body in
                amqp_basic_publish(state, channel, e, k, 0, 0, &props,
                                   amqp_bytes_t(len: body.count, bytes: UnsafeMutableRawPointer(mutating: body.baseAddress)))
            }
        } }
        guard rc == AMQP_STATUS_OK.rawValue else {
            // The check above is exact for what rabbitmq-c encodes, so a failure here is the connection's (the
            // publish also reads inbound frames, e.g. heartbeats): the message is published again after reconnecting.
            broken()
            throw AMQPError(.connection, "publish failed: \(String(cString: amqp_error_string2(rc)))")
        }
    }

    /// The message's basic properties, their strings and headers in ``scratch`` (valid until the next call).
    private func properties(_ m: AMQPMessage) -> amqp_basic_properties_t {
        var size = (m.contentType?.utf8.count ?? 0) + (m.messageID?.utf8.count ?? 0) + (m.correlationID?.utf8.count ?? 0)
        size += (m.type?.utf8.count ?? 0) + (m.expiration?.utf8.count ?? 0)
        for (key, value) in m.headers { size += key.utf8.count + (value.stringValue?.utf8.count ?? 0) }   // others: the arena
        scratch.reserve(bytes: size, entries: m.headers.count)
        var p = amqp_basic_properties_t()
        p._flags = amqp_flags_t(AMQP_BASIC_DELIVERY_MODE_FLAG)
        p.delivery_mode = m.deliveryMode
        if let t = m.timestamp { p.timestamp = t; p._flags |= amqp_flags_t(AMQP_BASIC_TIMESTAMP_FLAG) }
        if let s = m.contentType { p.content_type = scratch.copy(s); p._flags |= amqp_flags_t(AMQP_BASIC_CONTENT_TYPE_FLAG) }
        if let s = m.messageID { p.message_id = scratch.copy(s); p._flags |= amqp_flags_t(AMQP_BASIC_MESSAGE_ID_FLAG) }
        if let s = m.correlationID { p.correlation_id = scratch.copy(s); p._flags |= amqp_flags_t(AMQP_BASIC_CORRELATION_ID_FLAG) }
        if let s = m.type { p.type = scratch.copy(s); p._flags |= amqp_flags_t(AMQP_BASIC_TYPE_FLAG) }
        if let s = m.expiration { p.expiration = scratch.copy(s); p._flags |= amqp_flags_t(AMQP_BASIC_EXPIRATION_FLAG) }
        if !m.headers.isEmpty { p.headers = scratch.table(m.headers); p._flags |= amqp_flags_t(AMQP_BASIC_HEADERS_FLAG) }
        return p
    }

    /// Publisher confirms read from the socket, waiting up to `timeout` for the first; `connection.blocked`
    /// and `connection.unblocked` on the way set ``blockedReason``.
    /// - Returns: `(tag, multiple, ack)` triples; empty when nothing arrived in time.
    func readConfirms(timeout: timeval) throws(AMQPError) -> [(tag: UInt64, multiple: Bool, ack: Bool)] {
        var out: [(UInt64, Bool, Bool)] = []
        var wait = timeout
        while true {
            var frame = amqp_frame_t()
            let rc = amqp_simple_wait_frame_noblock(state, &frame, &wait)
            if rc == AMQP_STATUS_TIMEOUT.rawValue { break }
            guard rc == AMQP_STATUS_OK.rawValue else {
                broken()
                throw AMQPError(.connection, "reading confirms: \(String(cString: amqp_error_string2(rc)))")
            }
            wait = timeval(tv_sec: 0, tv_usec: 0)                  // take what is there, then return
            guard frame.frame_type == UInt8(AMQP_FRAME_METHOD) else { continue }
            switch frame.payload.method.id {
            case AMQP_BASIC_ACK_METHOD:
                let ack = frame.payload.method.decoded.assumingMemoryBound(to: amqp_basic_ack_t.self).pointee
                out.append((ack.delivery_tag, ack.multiple != 0, true))
            case AMQP_BASIC_NACK_METHOD:
                let nack = frame.payload.method.decoded.assumingMemoryBound(to: amqp_basic_nack_t.self).pointee
                out.append((nack.delivery_tag, nack.multiple != 0, false))
            case AMQP_CHANNEL_CLOSE_METHOD, AMQP_CONNECTION_CLOSE_METHOD:
                broken()
                throw AMQPError(.connection, "the broker closed the channel")
            case AMQP_CONNECTION_BLOCKED_METHOD:
                let blocked = frame.payload.method.decoded.assumingMemoryBound(to: amqp_connection_blocked_t.self).pointee
                let reason = AMQPTable.string(blocked.reason)
                blockedReason = reason.isEmpty ? "resource alarm" : reason
            case AMQP_CONNECTION_UNBLOCKED_METHOD:
                blockedReason = nil
            default:
                continue
            }
        }
        amqp_maybe_release_buffers(state)
        return out
    }

    // MARK: consuming

    public func qos(prefetch: Int) throws(AMQPError) {
        amqp_basic_qos(state, channel, 0, UInt16(clamping: prefetch), 0)
        try check("basic.qos")
    }

    /// Starts a consumer with manual acks; returns its tag.
    public func consume(queue: String) throws(AMQPError) -> String {
        let ok = withAMQPBytes(queue) { q in amqp_basic_consume(state, channel, q, amqp_empty_bytes, 0, 0, 0, amqp_empty_table) }
        try check("basic.consume \(queue)")
        return ok.map { AMQPTable.string($0.pointee.consumer_tag) } ?? ""
    }

    /// Stops a consumer: unacked messages stay with this connection until acked or it closes; nothing
    /// is dead-lettered.
    public func cancel(consumerTag: String) throws(AMQPError) {
        withAMQPBytes(consumerTag) { t in _ = amqp_basic_cancel(state, channel, t) }
        try check("basic.cancel")
    }

    public func ack(_ tag: UInt64, multiple: Bool = false) throws(AMQPError) {
        let rc = amqp_basic_ack(state, channel, tag, multiple ? 1 : 0)
        guard rc == AMQP_STATUS_OK.rawValue else { broken(); throw AMQPError(.connection, "ack failed") }
    }

    public func reject(_ tag: UInt64, requeue: Bool) throws(AMQPError) {
        let rc = amqp_basic_reject(state, channel, tag, requeue ? 1 : 0)
        guard rc == AMQP_STATUS_OK.rawValue else { broken(); throw AMQPError(.connection, "reject failed") }
    }

    /// The next delivery, waiting up to `timeout`; nil when none came in time.
    func nextDelivery(timeout: timeval, generation: Int) throws(AMQPError) -> AMQPDelivery? {
        amqp_maybe_release_buffers(state)
        var envelope = amqp_envelope_t()
        var wait = timeout
        let reply = amqp_consume_message(state, &envelope, &wait, 0)
        if reply.reply_type == AMQP_RESPONSE_NORMAL {
            defer { amqp_destroy_envelope(&envelope) }
            return AMQPDelivery(tag: envelope.delivery_tag, redelivered: envelope.redelivered != 0,
                                exchange: AMQPTable.string(envelope.exchange), routingKey: AMQPTable.string(envelope.routing_key),
                                message: Self.message(envelope.message), generation: generation)
        }
        if reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION, reply.library_error == AMQP_STATUS_TIMEOUT.rawValue { return nil }
        if reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION, reply.library_error == AMQP_STATUS_UNEXPECTED_STATE.rawValue {
            // A method other than a delivery (e.g. the broker cancelled us, or closed the channel).
            var frame = amqp_frame_t()
            var zero = timeval(tv_sec: 0, tv_usec: 0)
            let rc = amqp_simple_wait_frame_noblock(state, &frame, &zero)
            if rc == AMQP_STATUS_OK.rawValue, frame.frame_type == UInt8(AMQP_FRAME_METHOD) {
                switch frame.payload.method.id {
                case AMQP_CHANNEL_CLOSE_METHOD, AMQP_CONNECTION_CLOSE_METHOD:
                    broken()
                    throw AMQPError(.connection, "the broker closed the channel")
                case AMQP_BASIC_CANCEL_METHOD:
                    throw AMQPError(.connection, "the broker cancelled the consumer (queue deleted?)")
                default:
                    return nil
                }
            }
            return nil
        }
        broken()
        throw Self.error(reply, "consume") ?? AMQPError(.connection, "consume failed")
    }

    /// One message by `basic.get` (operators' tools); nil when the queue is empty.
    public func get(queue: String) throws(AMQPError) -> AMQPDelivery? {
        amqp_maybe_release_buffers(state)
        let reply = withAMQPBytes(queue) { q in amqp_basic_get(state, channel, q, 0) }
        if let error = Self.error(reply, "basic.get \(queue)") { broken(); throw error }
        guard reply.reply.id == AMQP_BASIC_GET_OK_METHOD else { return nil }
        let ok = reply.reply.decoded.assumingMemoryBound(to: amqp_basic_get_ok_t.self).pointee
        var message = amqp_message_t()
        let read = amqp_read_message(state, channel, &message, 0)
        if let error = Self.error(read, "read message") { broken(); throw error }
        defer { amqp_destroy_message(&message) }
        return AMQPDelivery(tag: ok.delivery_tag, redelivered: ok.redelivered != 0, exchange: AMQPTable.string(ok.exchange),
                            routingKey: AMQPTable.string(ok.routing_key), message: Self.message(message), generation: 0)
    }

    static func message(_ m: amqp_message_t) -> AMQPMessage {
        let p = m.properties
        func has(_ flag: Int32) -> Bool { p._flags & amqp_flags_t(flag) != 0 }
        return AMQPMessage(
            body: AMQPTable.array(m.body),
            contentType: has(AMQP_BASIC_CONTENT_TYPE_FLAG) ? AMQPTable.string(p.content_type) : nil,
            messageID: has(AMQP_BASIC_MESSAGE_ID_FLAG) ? AMQPTable.string(p.message_id) : nil,
            correlationID: has(AMQP_BASIC_CORRELATION_ID_FLAG) ? AMQPTable.string(p.correlation_id) : nil,
            type: has(AMQP_BASIC_TYPE_FLAG) ? AMQPTable.string(p.type) : nil,
            deliveryMode: has(AMQP_BASIC_DELIVERY_MODE_FLAG) ? p.delivery_mode : 1,
            expiration: has(AMQP_BASIC_EXPIRATION_FLAG) ? AMQPTable.string(p.expiration) : nil,
            timestamp: has(AMQP_BASIC_TIMESTAMP_FLAG) ? p.timestamp : nil,
            headers: has(AMQP_BASIC_HEADERS_FLAG) ? AMQPTable.read(p.headers) : [:])
    }

    // MARK: errors

    private func check(_ what: String) throws(AMQPError) {
        if let error = Self.error(amqp_get_rpc_reply(state), what) {
            broken()
            throw error
        }
    }

    static func error(_ reply: amqp_rpc_reply_t, _ what: String) -> AMQPError? {
        switch reply.reply_type {
        case AMQP_RESPONSE_NORMAL:
            return nil
        case AMQP_RESPONSE_LIBRARY_EXCEPTION:
            return AMQPError(.connection, "\(what): \(String(cString: amqp_error_string2(reply.library_error)))")
        case AMQP_RESPONSE_SERVER_EXCEPTION:
            switch reply.reply.id {
            case AMQP_CHANNEL_CLOSE_METHOD:
                let close = reply.reply.decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
                return AMQPError(.refused, "\(what): \(AMQPTable.string(close.reply_text))", code: Int(close.reply_code))
            case AMQP_CONNECTION_CLOSE_METHOD:
                let close = reply.reply.decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
                return AMQPError(.connection, "\(what): \(AMQPTable.string(close.reply_text))", code: Int(close.reply_code))
            default:
                return AMQPError(.refused, "\(what): unexpected method \(reply.reply.id)")
            }
        default:
            return AMQPError(.connection, "\(what): no reply")
        }
    }
}
