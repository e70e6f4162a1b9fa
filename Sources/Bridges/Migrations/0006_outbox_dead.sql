-- Outbox rows that can never be published (a topic over AMQP's 255-byte routing key, headers over a frame):
-- the relay moves them here with the reason, in the transaction that deletes the rows it published, so
-- they neither hold up the outbox nor are lost. `troupe dlq list|replay|purge outbox` reads them.
CREATE TABLE troupe_outbox_dead (
    seq        bigint      PRIMARY KEY,
    id         uuid        NOT NULL,
    topic      text        NOT NULL,
    envelope   text        NOT NULL,
    reason     text        NOT NULL,
    dead_at    timestamptz NOT NULL DEFAULT now()
);
