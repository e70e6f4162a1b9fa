-- Wallet top-ups through a payment provider (issue 19): the provider's payment intents Troupe created, the
-- partners' Idempotency-Key requests (remembered 24 h), and every provider event received (deduplicated by
-- its id, committed with its effects). Ledger entries say who made them and why.
CREATE TABLE payment_intents (
    id             text          PRIMARY KEY,          -- the provider's id (pi_...)
    partner_id     uuid          NOT NULL REFERENCES partners (id),
    amount         numeric(14,2) NOT NULL CHECK (amount > 0),
    currency       text          NOT NULL,
    status         text          NOT NULL DEFAULT 'requires_payment' CHECK (status IN ('requires_payment', 'succeeded', 'failed')),
    failure_reason text,
    created_at     timestamptz   NOT NULL DEFAULT now(),
    updated_at     timestamptz   NOT NULL DEFAULT now()
);
CREATE INDEX payment_intents_partner ON payment_intents (partner_id, created_at);

CREATE TABLE idempotency_keys (
    partner_id   uuid        NOT NULL REFERENCES partners (id),
    key          text        NOT NULL,
    request_hash text        NOT NULL,
    status       integer     NOT NULL,
    response     text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (partner_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

CREATE TABLE payment_events (
    id          text        PRIMARY KEY,                -- the provider's event id (evt_...)
    type        text        NOT NULL,
    intent_id   text,
    outcome     text        NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE wallet_entries
    ADD COLUMN created_by text,
    ADD COLUMN reason     text;
