-- What each node's component instances report every few seconds (mailbox depth, deliveries handled,
-- retried and dead-lettered, restarts), so /metrics on any edge node shows every node's.
CREATE TABLE troupe_node_stats (
    node          text        NOT NULL,
    actor_path    text        NOT NULL,
    component     text        NOT NULL,
    mailbox_depth int         NOT NULL,
    handled       bigint      NOT NULL,
    duplicates    bigint      NOT NULL,
    retried       bigint      NOT NULL,
    dead_lettered bigint      NOT NULL,
    restarts      bigint      NOT NULL,
    reported_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (node, actor_path)
);
