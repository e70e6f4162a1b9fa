#ifndef TROUPE_RAW_LOOPS_H
#define TROUPE_RAW_LOOPS_H
/* The baseline of `troupe-bench amqp`: plain C loops over librabbitmq, no Troupe code.
   Each returns messages per second over its loop (connection set-up not timed), or -1 and a reason
   in `error` (at least 128 bytes). They block: call them on a thread of their own. `heartbeat` is the
   AMQP heartbeat in seconds (0 = off), as Troupe's connections negotiate it. */
#include <stddef.h>

/* Publishes `count` persistent messages of `body_size` bytes ('x') to the default exchange with routing
   key `queue`, with publisher confirms, waiting for all confirms after every `batch` messages. */
double troupe_raw_publish_confirmed(const char *host, int port, const char *user, const char *password,
                                    int heartbeat, const char *queue, long count, size_t body_size, int batch, char *error);

/* Consumes `count` messages from `queue` with basic.qos `prefetch`, acking each one. */
double troupe_raw_consume_acked(const char *host, int port, const char *user, const char *password,
                                int heartbeat, const char *queue, long count, int prefetch, char *error);
#endif
