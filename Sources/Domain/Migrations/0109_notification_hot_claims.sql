-- A claim only leases a delivery (lease_until, attempts, updated_at): none of them indexed now, so with room
-- on the page PostgreSQL updates the row in place (HOT) instead of adding an entry to each of its indexes,
-- entries every later claim then read past. Ended deliveries are found by ended_at, set once.
ALTER TABLE notification_deliveries ADD COLUMN ended_at timestamptz;
UPDATE notification_deliveries SET ended_at = updated_at WHERE status IN ('delivered', 'failed');
DROP INDEX notification_deliveries_ended;
CREATE INDEX notification_deliveries_ended ON notification_deliveries (ended_at) WHERE ended_at IS NOT NULL;
ALTER TABLE notification_deliveries SET (fillfactor = 70);
