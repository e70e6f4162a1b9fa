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

/* amqp_login() is C-variadic, which Swift cannot call: this wraps it for SASL PLAIN. */
static inline amqp_rpc_reply_t crmq_login_plain(amqp_connection_state_t state, const char *vhost,
                                                int channel_max, int frame_max, int heartbeat,
                                                const char *user, const char *password) {
    return amqp_login(state, vhost, channel_max, frame_max, heartbeat, AMQP_SASL_METHOD_PLAIN, user, password);
}
#endif
