-- Each node's heartbeat (issue 21): written every few seconds while it runs, marked stopped when it stops
-- gracefully. The edge's /health reads it to say which node of the topology is down (a crashed node, or one that
-- troupe up holds after too many restarts, stops beating).
CREATE TABLE troupe_node_heartbeats (
    node       text        PRIMARY KEY,
    pid        int         NOT NULL,
    started_at timestamptz NOT NULL,
    seen_at    timestamptz NOT NULL DEFAULT now(),
    stopped_at timestamptz
);

-- 0007's comment predates the envelope id as the key (a migration is not edited once applied).
COMMENT ON COLUMN troupe_redeliveries.message_key IS 'the envelope id, or a hash of the body when it is not an envelope';
