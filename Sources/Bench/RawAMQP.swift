import CRabbitMQ
import Foundation

/// The baseline: bare librabbitmq loops, no Troupe code, on a thread of their own.
enum RawAMQP {
    struct Failure: Error { let what: String }

    static func connect(_ host: String, _ port: Int, _ user: String, _ password: String) throws -> amqp_connection_state_t {
        guard let conn = amqp_new_connection(), let socket = amqp_tcp_socket_new(conn) else { throw Failure(what: "alloc") }
        guard amqp_socket_open(socket, host, Int32(port)) == AMQP_STATUS_OK.rawValue else { throw Failure(what: "connect") }
        guard crmq_login_plain(conn, "/", 0, 131_072, 0, user, password).reply_type == AMQP_RESPONSE_NORMAL else { throw Failure(what: "login") }
        amqp_channel_open(conn, 1)
        guard amqp_get_rpc_reply(conn).reply_type == AMQP_RESPONSE_NORMAL else { throw Failure(what: "channel") }
        return conn
    }

    static func close(_ conn: amqp_connection_state_t) {
        amqp_channel_close(conn, 1, Int32(AMQP_REPLY_SUCCESS))
        amqp_connection_close(conn, Int32(AMQP_REPLY_SUCCESS))
        amqp_destroy_connection(conn)
    }

    /// Publishes `count` persistent messages of `body` with confirms, waiting for all after every `batch`.
    static func publishConfirmed(_ conn: amqp_connection_state_t, queue: String, count: Int, body: [UInt8], batch: Int = 1000) throws {
        amqp_confirm_select(conn, 1)
        var props = amqp_basic_properties_t()
        props._flags = amqp_flags_t(AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_CONTENT_TYPE_FLAG)
        props.delivery_mode = 2
        let contentType = strdup("application/json")!
        defer { free(contentType) }
        props.content_type = amqp_bytes_t(len: strlen(contentType), bytes: contentType)
        let q = strdup(queue)!
        defer { free(q) }
        let routingKey = amqp_bytes_t(len: strlen(q), bytes: q)
        var sent = 0
        var confirmedTag: UInt64 = 0
        try body.withUnsafeBytes { b in
            let payload = amqp_bytes_t(len: b.count, bytes: UnsafeMutableRawPointer(mutating: b.baseAddress))
            while sent < count {
                let n = min(batch, count - sent)
                for _ in 0..<n {
                    guard amqp_basic_publish(conn, 1, amqp_empty_bytes, routingKey, 0, 0, &props, payload) == AMQP_STATUS_OK.rawValue else {
                        throw Failure(what: "publish")
                    }
                }
                sent += n
                while confirmedTag < UInt64(sent) {
                    var frame = amqp_frame_t()
                    guard amqp_simple_wait_frame(conn, &frame) == AMQP_STATUS_OK.rawValue else { throw Failure(what: "confirm") }
                    if frame.frame_type == UInt8(AMQP_FRAME_METHOD), frame.payload.method.id == AMQP_BASIC_ACK_METHOD {
                        confirmedTag = frame.payload.method.decoded.assumingMemoryBound(to: amqp_basic_ack_t.self).pointee.delivery_tag
                    }
                }
                amqp_maybe_release_buffers(conn)
            }
        }
    }

    /// Consumes `count` messages with `prefetch`, acking each.
    static func consumeAcked(_ conn: amqp_connection_state_t, queue: String, count: Int, prefetch: Int = 500) throws {
        amqp_basic_qos(conn, 1, 0, UInt16(prefetch), 0)
        let q = strdup(queue)!
        defer { free(q) }
        amqp_basic_consume(conn, 1, amqp_bytes_t(len: strlen(q), bytes: q), amqp_empty_bytes, 0, 0, 0, amqp_empty_table)
        guard amqp_get_rpc_reply(conn).reply_type == AMQP_RESPONSE_NORMAL else { throw Failure(what: "consume") }
        for _ in 0..<count {
            amqp_maybe_release_buffers(conn)
            var envelope = amqp_envelope_t()
            guard amqp_consume_message(conn, &envelope, nil, 0).reply_type == AMQP_RESPONSE_NORMAL else { throw Failure(what: "consume_message") }
            amqp_basic_ack(conn, 1, envelope.delivery_tag, 0)
            amqp_destroy_envelope(&envelope)
        }
    }
}
