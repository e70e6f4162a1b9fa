-- Poison-pill quarantine (issue 21): how often a message came back to a component unsettled (the broker's
-- redelivered flag: its consumer crashed, or stopped, while it was in hand). Counted in its own autocommit before
-- the handler runs, so a crash during the handler still counts; at the topology's broker.quarantineAfter the
-- message is dead-lettered instead of handled. First deliveries are never counted. Pruned with the inbox.
CREATE TABLE troupe_redeliveries (
    component   text        NOT NULL,
    message_key text        NOT NULL,   -- the AMQP message id, or a hash of the body when there is none
    count       int         NOT NULL,
    last_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (component, message_key)
);
CREATE INDEX troupe_redeliveries_last_at ON troupe_redeliveries (last_at);
