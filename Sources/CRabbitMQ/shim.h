#ifndef CRABBITMQ_SHIM_H
#define CRABBITMQ_SHIM_H
/* rabbitmq-c >= 0.12 installs <rabbitmq-c/amqp.h> and deprecates the flat headers;
   Debian 12's 0.11 has only the flat <amqp.h>. */
#if __has_include(<rabbitmq-c/amqp.h>)
#include <rabbitmq-c/amqp.h>
#include <rabbitmq-c/framing.h>
#include <rabbitmq-c/tcp_socket.h>
#else
#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#endif

/* poll() on the socket and an eventfd lets a connection's thread wait for the broker or for work. */
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/time.h>

/* amqp_login() is C-variadic, which Swift cannot call: this wraps it for SASL PLAIN. It announces the
   `connection.blocked` capability (rabbitmq-c merges it into its default capabilities), so the broker says
   when a resource alarm blocks publishing on the connection, and when that ends. */
static inline amqp_rpc_reply_t crmq_login_plain(amqp_connection_state_t state, const char *vhost,
                                                int channel_max, int frame_max, int heartbeat,
                                                const char *user, const char *password) {
    amqp_table_entry_t capability;
    capability.key = amqp_cstring_bytes("connection.blocked");
    capability.value.kind = AMQP_FIELD_KIND_BOOLEAN;
    capability.value.value.boolean = 1;
    amqp_table_entry_t property;
    property.key = amqp_cstring_bytes("capabilities");
    property.value.kind = AMQP_FIELD_KIND_TABLE;
    property.value.value.table.num_entries = 1;
    property.value.value.table.entries = &capability;
    amqp_table_t properties;
    properties.num_entries = 1;
    properties.entries = &property;
    return amqp_login_with_properties(state, vhost, channel_max, frame_max, heartbeat, &properties,
                                      AMQP_SASL_METHOD_PLAIN, user, password);
}

/* Table values (a C union), built in C. */
static inline amqp_field_value_t crmq_utf8_value(amqp_bytes_t bytes) {
    amqp_field_value_t v;
    v.kind = AMQP_FIELD_KIND_UTF8;
    v.value.bytes = bytes;
    return v;
}

static inline amqp_field_value_t crmq_i64_value(int64_t i) {
    amqp_field_value_t v;
    v.kind = AMQP_FIELD_KIND_I64;
    v.value.i64 = i;
    return v;
}

#endif
