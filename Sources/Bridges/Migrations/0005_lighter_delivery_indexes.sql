-- Every delivery writes an inbox row and every emitted envelope an outbox row (and its delete): with their
-- indexes, most of what a saga step costs PostgreSQL (pg_stat_statements over `troupe-bench orders`: 64% of
-- the WAL and of the buffers touched). Two of those indexes only serve rare work:
-- * the inbox's `handled_at` btree serves the hourly prune alone: a BRIN index serves it as well (rows arrive
--   in time order) and costs an insert next to nothing (a block range is summarized once it is full);
-- * the outbox's unique `id` served no lookup (the relay takes rows by seq and deletes them by ctid), and an
--   envelope written twice would still be deduplicated by its consumers' inbox.
DROP INDEX troupe_inbox_handled_at;
CREATE INDEX troupe_inbox_handled_at ON troupe_inbox USING brin (handled_at) WITH (autosummarize = on);
ALTER TABLE troupe_outbox DROP CONSTRAINT troupe_outbox_id_key;
