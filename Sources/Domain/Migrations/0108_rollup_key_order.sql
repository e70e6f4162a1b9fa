-- The summary reads a metric's few keys (the three order topics) over a range of buckets: with the key before
-- the bucket its rows are one index range per key; the top products read every key of a range, by bucket.
-- Measured on 10 M events (3 M rollup rows), a 30-day summary: 690 ms -> 440 ms (docs/BENCHMARKS.md).
ALTER TABLE analytics_rollups DROP CONSTRAINT analytics_rollups_pkey;
ALTER TABLE analytics_rollups ADD PRIMARY KEY (metric, key, bucket, partner);
CREATE INDEX analytics_rollups_by_bucket ON analytics_rollups (metric, bucket);
