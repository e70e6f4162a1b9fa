-- Inventory's code pools (issue 20; the code-service of shared/reference/code-service-data-flow.md): promotional
-- codes per campaign and type, uploaded, reserved, assigned and released. A code's state is not stored: it follows
-- from its dates, as the reference's queries have it, so a reservation expires after 24 hours with no job:
--   available: not assigned, and never reserved or reserved more than 24 hours ago
--   reserved:  not assigned, reserved within 24 hours
--   assigned:  assigned (terminal)
CREATE TABLE code_pool (
    campaign_id text        NOT NULL,
    code        text        NOT NULL,
    type        text        NOT NULL CHECK (type IN ('tm', 'external')),
    saved_at    timestamptz NOT NULL DEFAULT now(),   -- last uploaded
    reserved_at timestamptz,
    reserve_id  uuid,
    assigned_at timestamptz,
    PRIMARY KEY (campaign_id, code)
);
-- Reserving reads two ranges of this index, the never-reserved codes (reserved_at IS NULL), then reservations
-- older than 24 hours (reserved_at <= now() - 24h): every row it meets is available, so a LIMIT stops it early
-- however large the pool, and a pool running short does not walk its live reservations.
CREATE INDEX code_pool_unassigned ON code_pool (campaign_id, type, reserved_at NULLS FIRST) WHERE assigned_at IS NULL;
CREATE INDEX code_pool_reserve_id ON code_pool (reserve_id) WHERE reserve_id IS NOT NULL;
