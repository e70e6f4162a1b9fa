-- Issue 16: when the last checkout of an order without a sure answer ended (a vendor's "no such order" counts
-- only a grace period after it: a checkout still in flight at the vendor would place the order later), and
-- when reconciliation last re-drove the order (it takes the least recently reconciled first, so orders that
-- never resolve cannot hold its whole batch).
ALTER TABLE orders ADD COLUMN checkout_at timestamptz;
ALTER TABLE orders ADD COLUMN reconciled_at timestamptz;
