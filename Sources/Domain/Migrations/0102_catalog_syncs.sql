-- Catalog syncs from the vendor (issue 5): one row per successful sync. The first sync runs when there is
-- none; BrandSync's schedule will read the last one.
CREATE TABLE catalog_syncs (
    id               bigserial   PRIMARY KEY,
    finished_at      timestamptz NOT NULL DEFAULT now(),
    categories       integer     NOT NULL,
    products         integer     NOT NULL,
    products_written integer     NOT NULL
);
