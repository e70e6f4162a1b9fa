-- Analytics: the domain events it consumed, the events tracked over POST /v1/analytics/track, the edge's
-- request log, and the rollups the aggregates read (one row per metric, bucket, partner and key: their
-- size grows with time and partners, not with the number of events, so the aggregates stay fast).
CREATE TABLE analytics_domain_events (
    envelope_id uuid PRIMARY KEY,
    topic text NOT NULL,
    producer text NOT NULL,
    partner_id uuid,
    occurred_at timestamptz NOT NULL,
    payload jsonb NOT NULL
);
CREATE INDEX analytics_domain_events_time ON analytics_domain_events USING brin (occurred_at);

CREATE TABLE analytics_tracked_events (
    received_at timestamptz NOT NULL,
    event text NOT NULL,
    session_id text,
    page_url text,
    referrer text,
    properties jsonb NOT NULL
);
CREATE INDEX analytics_tracked_events_time ON analytics_tracked_events USING brin (received_at);

CREATE TABLE analytics_api_requests (
    received_at timestamptz NOT NULL,
    method text NOT NULL,
    route text NOT NULL,
    status smallint NOT NULL,
    duration_ms double precision NOT NULL,
    partner_id uuid,
    correlation_id text NOT NULL
);
CREATE INDEX analytics_api_requests_time ON analytics_api_requests USING brin (received_at);

-- metric 'event': domain events per topic (key) per partner per hour; 'product': completed orders per
-- product (key) per partner per hour; 'tracked': tracked events per type (key) per day (UTC).
CREATE TABLE analytics_rollups (
    metric text NOT NULL,
    bucket timestamptz NOT NULL,
    partner text NOT NULL DEFAULT '',
    key text NOT NULL,
    count bigint NOT NULL,
    PRIMARY KEY (metric, bucket, partner, key)
);
