#include "raw_loops.h"

#if __has_include(<rabbitmq-c/amqp.h>)
#include <rabbitmq-c/amqp.h>
#include <rabbitmq-c/tcp_socket.h>
#else
#include <amqp.h>
#include <amqp_tcp_socket.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static amqp_connection_state_t open_channel(const char *host, int port, const char *user, const char *password,
                                            int heartbeat, char *error) {
    amqp_connection_state_t conn = amqp_new_connection();
    amqp_socket_t *socket = conn ? amqp_tcp_socket_new(conn) : NULL;
    if (!socket) { snprintf(error, 128, "out of memory"); if (conn) amqp_destroy_connection(conn); return NULL; }
    if (amqp_socket_open(socket, host, port) != AMQP_STATUS_OK) {
        snprintf(error, 128, "cannot connect to %s:%d", host, port);
        amqp_destroy_connection(conn);
        return NULL;
    }
    if (amqp_login(conn, "/", 0, 131072, heartbeat, AMQP_SASL_METHOD_PLAIN, user, password).reply_type != AMQP_RESPONSE_NORMAL) {
        snprintf(error, 128, "login refused");
        amqp_destroy_connection(conn);
        return NULL;
    }
    amqp_channel_open(conn, 1);
    if (amqp_get_rpc_reply(conn).reply_type != AMQP_RESPONSE_NORMAL) {
        snprintf(error, 128, "channel.open failed");
        amqp_destroy_connection(conn);
        return NULL;
    }
    return conn;
}

static void close_channel(amqp_connection_state_t conn) {
    amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS);
    amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn);
}

double troupe_raw_publish_confirmed(const char *host, int port, const char *user, const char *password,
                                    int heartbeat, const char *queue, long count, size_t body_size, int batch, char *error) {
    amqp_connection_state_t conn = open_channel(host, port, user, password, heartbeat, error);
    if (!conn) return -1;
    amqp_confirm_select(conn, 1);
    if (amqp_get_rpc_reply(conn).reply_type != AMQP_RESPONSE_NORMAL) {
        snprintf(error, 128, "confirm.select failed");
        close_channel(conn);
        return -1;
    }
    char *body = malloc(body_size);
    memset(body, 'x', body_size);
    amqp_bytes_t payload = { body_size, body };
    amqp_basic_properties_t props;
    props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_CONTENT_TYPE_FLAG;
    props.delivery_mode = 2;
    props.content_type = amqp_cstring_bytes("application/json");
    amqp_bytes_t routing_key = amqp_cstring_bytes(queue);

    double result = -1;
    long sent = 0;
    uint64_t confirmed = 0;
    double start = now_seconds();
    while (sent < count) {
        long n = count - sent < batch ? count - sent : batch;
        for (long i = 0; i < n; i++) {
            if (amqp_basic_publish(conn, 1, amqp_empty_bytes, routing_key, 0, 0, &props, payload) != AMQP_STATUS_OK) {
                snprintf(error, 128, "basic.publish failed");
                goto done;
            }
        }
        sent += n;
        while (confirmed < (uint64_t)sent) {
            amqp_frame_t frame;
            if (amqp_simple_wait_frame(conn, &frame) != AMQP_STATUS_OK) { snprintf(error, 128, "lost waiting for confirms"); goto done; }
            if (frame.frame_type == AMQP_FRAME_METHOD && frame.payload.method.id == AMQP_BASIC_ACK_METHOD) {
                confirmed = ((amqp_basic_ack_t *)frame.payload.method.decoded)->delivery_tag;
            } else if (frame.frame_type == AMQP_FRAME_METHOD && frame.payload.method.id == AMQP_BASIC_NACK_METHOD) {
                snprintf(error, 128, "broker nacked a message");
                goto done;
            }
        }
        amqp_maybe_release_buffers(conn);
    }
    result = (double)count / (now_seconds() - start);
done:
    free(body);
    close_channel(conn);
    return result;
}

double troupe_raw_consume_acked(const char *host, int port, const char *user, const char *password,
                                int heartbeat, const char *queue, long count, int prefetch, char *error) {
    amqp_connection_state_t conn = open_channel(host, port, user, password, heartbeat, error);
    if (!conn) return -1;
    amqp_basic_qos(conn, 1, 0, (uint16_t)prefetch, 0);
    amqp_basic_consume(conn, 1, amqp_cstring_bytes(queue), amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
    if (amqp_get_rpc_reply(conn).reply_type != AMQP_RESPONSE_NORMAL) {
        snprintf(error, 128, "basic.consume failed");
        close_channel(conn);
        return -1;
    }
    double result = -1;
    double start = now_seconds();
    for (long i = 0; i < count; i++) {
        amqp_maybe_release_buffers(conn);
        amqp_envelope_t envelope;
        if (amqp_consume_message(conn, &envelope, NULL, 0).reply_type != AMQP_RESPONSE_NORMAL) {
            snprintf(error, 128, "consume failed after %ld messages", i);
            goto done;
        }
        amqp_basic_ack(conn, 1, envelope.delivery_tag, 0);
        amqp_destroy_envelope(&envelope);
    }
    result = (double)count / (now_seconds() - start);
done:
    close_channel(conn);
    return result;
}
