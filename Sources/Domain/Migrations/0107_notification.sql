-- Notification: where partners want their notifications, and the delivery log. A delivery is one event for
-- one recipient on one channel: its unique key is what keeps an event from being delivered twice to the
-- same recipient, however often it is redelivered and however many Notification instances race on it.
ALTER TABLE partners ADD COLUMN email text;

CREATE TABLE partner_webhooks (
    partner_id uuid PRIMARY KEY REFERENCES partners (id),
    url text NOT NULL,
    -- the signing secret, sealed (AES-GCM with the card key; the partner's id as authenticated data):
    -- Troupe must read it to sign, so it cannot be stored as a hash
    secret_sealed jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE notification_deliveries (
    id bigserial PRIMARY KEY,
    event_id uuid NOT NULL,
    topic text NOT NULL,
    channel text NOT NULL CHECK (channel IN ('webhook', 'email')),
    recipient text NOT NULL,
    partner_id uuid,
    subject text NOT NULL,
    body text NOT NULL,
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'retrying', 'delivered', 'failed')),
    attempts int NOT NULL DEFAULT 0,
    last_code int,
    last_error text,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    -- while a sender holds it (a sender that dies lets it go when this passes)
    lease_until timestamptz,
    give_up_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    delivered_at timestamptz,
    UNIQUE (event_id, channel, recipient)
);
CREATE INDEX notification_deliveries_due ON notification_deliveries (next_attempt_at) WHERE status IN ('pending', 'retrying');
CREATE INDEX notification_deliveries_ended ON notification_deliveries (updated_at) WHERE status IN ('delivered', 'failed');

CREATE TABLE notification_attempts (
    delivery_id bigint NOT NULL REFERENCES notification_deliveries (id),
    attempt int NOT NULL,
    started_at timestamptz NOT NULL,
    duration_ms double precision NOT NULL,
    outcome text NOT NULL CHECK (outcome IN ('delivered', 'retry', 'failed')),
    status_code int,
    error text,
    PRIMARY KEY (delivery_id, attempt)
);
