-- The order saga's compensations (issue 5): which replies a failing order still waits for before it is
-- marked Failed.
ALTER TABLE orders ADD COLUMN refund_pending  boolean NOT NULL DEFAULT false;
ALTER TABLE orders ADD COLUMN release_pending boolean NOT NULL DEFAULT false;
