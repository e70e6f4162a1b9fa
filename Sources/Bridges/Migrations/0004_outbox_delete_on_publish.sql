-- A relay now deletes the envelopes it publishes, in a transaction that commits once the broker confirmed
-- them (one write per envelope instead of claim, mark and a later prune); the claim and mark columns go.
DELETE FROM troupe_outbox WHERE published_at IS NOT NULL;
DROP INDEX troupe_outbox_pending;
ALTER TABLE troupe_outbox DROP COLUMN published_at, DROP COLUMN claimed_until;
