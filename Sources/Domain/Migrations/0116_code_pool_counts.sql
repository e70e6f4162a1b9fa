-- Counters of the code pools (issue 20), so that counting a pool of millions reads a few hundred rows, not the pool.
-- Each change to code_pool adds its deltas here in the same transaction, invariant (checked against code_pool by
-- the tests):
--   kind 'all',      bucket -infinity: the pool's codes
--   kind 'assigned', bucket -infinity: its assigned codes
--   kind 'reserved', bucket H:         its unassigned codes whose reserved_at falls in the hour H
-- Reserved now = the buckets after the hour of now() - 24h, plus the rows of that boundary hour reserved after
-- now() - 24h (an index range of code_pool_unassigned); available = all - assigned - reserved. Each backend adds to
-- its own shard (pg_backend_pid() % 16), so concurrent reservers do not queue on one counter row.
CREATE TABLE code_pool_counts (
    campaign_id text        NOT NULL,
    type        text        NOT NULL,
    kind        text        NOT NULL CHECK (kind IN ('all', 'assigned', 'reserved')),
    bucket      timestamptz NOT NULL,
    shard       int         NOT NULL,
    n           bigint      NOT NULL,
    PRIMARY KEY (campaign_id, type, kind, bucket, shard)
);

INSERT INTO code_pool_counts (campaign_id, type, kind, bucket, shard, n)
SELECT campaign_id, type, 'all', '-infinity'::timestamptz, 0, count(*) FROM code_pool GROUP BY campaign_id, type
UNION ALL
SELECT campaign_id, type, 'assigned', '-infinity', 0, count(*) FROM code_pool WHERE assigned_at IS NOT NULL GROUP BY campaign_id, type
UNION ALL
SELECT campaign_id, type, 'reserved', date_trunc('hour', reserved_at, 'UTC'), 0, count(*) FROM code_pool
WHERE assigned_at IS NULL AND reserved_at IS NOT NULL GROUP BY campaign_id, type, date_trunc('hour', reserved_at, 'UTC');
