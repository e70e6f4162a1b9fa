-- A node hosting OrderQueue seals, at start, the cards of orders stored before cards were sealed (issue 16).
-- This partial index holds only those orders (none, once sealed), so the look at every start reads an empty
-- index instead of the whole orders table.
CREATE INDEX orders_plain_cards ON orders (id) WHERE cards IS NOT NULL AND jsonb_typeof(cards) = 'array';
