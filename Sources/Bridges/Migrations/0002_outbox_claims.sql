-- Outbox relays on several nodes claim rows for a while, so each envelope is normally published by one
-- relay; a claim that expires (its relay died) lets another relay take the row.
ALTER TABLE troupe_outbox ADD COLUMN claimed_until timestamptz;
