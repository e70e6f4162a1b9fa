-- Troupe's delivery guarantees (issue 4).

-- Inbox: one row per (component, envelope id) whose effects committed. A redelivered or re-published
-- duplicate finds its row and is acknowledged without running its effects again.
CREATE TABLE troupe_inbox (
    component   text        NOT NULL,
    envelope_id uuid        NOT NULL,
    handled_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (component, envelope_id)
);
CREATE INDEX troupe_inbox_handled_at ON troupe_inbox (handled_at);

-- Outbox: envelopes emitted by a transaction, written in that same transaction; a relay publishes
-- them with publisher confirms after commit and then marks them published.
CREATE TABLE troupe_outbox (
    seq          bigserial   PRIMARY KEY,
    id           uuid        NOT NULL UNIQUE,
    topic        text        NOT NULL,
    envelope     text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX troupe_outbox_pending ON troupe_outbox (seq) WHERE published_at IS NULL;
