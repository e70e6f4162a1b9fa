-- An order's row is updated at each saga step (five or six times), the stock and wallet rows at every
-- order: pages left partly free let those updates stay on their page (HOT updates, no new index
-- entries) instead of moving the row and adding an entry to each of its indexes.
ALTER TABLE orders SET (fillfactor = 60);
ALTER TABLE inventory_stock SET (fillfactor = 50);
ALTER TABLE wallets SET (fillfactor = 50);
