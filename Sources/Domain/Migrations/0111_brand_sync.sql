-- BrandSync on schedule (issue 19). Brands are rows of their own, linked to every category they list;
-- products keep a hash of what the vendor said (an unchanged row is not written), whether they are still in
-- the vendor's catalog (never deleted: orders reference them), and the history of their face value range.
CREATE TABLE brands (
    id           bigserial   PRIMARY KEY,
    internal_id  text        NOT NULL UNIQUE,
    name         text        NOT NULL,
    country      text        NOT NULL DEFAULT '',
    currency     text        NOT NULL,
    content_hash text        NOT NULL,
    available    boolean     NOT NULL DEFAULT true,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- A brand's categories, by the vendor's category id: no foreign key, so a catalog synced before its
-- categories (the categories call rate-limited or failing) keeps its links until they arrive.
CREATE TABLE brand_categories (
    brand_id    bigint NOT NULL REFERENCES brands (id),
    category_id text   NOT NULL,
    PRIMARY KEY (brand_id, category_id)
);

-- For the same reason a product's first category is no longer a foreign key.
ALTER TABLE products DROP CONSTRAINT products_category_id_fkey;
ALTER TABLE products
    ADD COLUMN brand_id     bigint  REFERENCES brands (id),
    ADD COLUMN content_hash text,
    ADD COLUMN available    boolean NOT NULL DEFAULT true,
    -- Rows the vendor's catalog wrote; only those are marked unavailable when they leave it (rows an
    -- operator or a test inserted by hand were never in it). Rows that exist now are not known to be the
    -- vendor's: the next sync writes those it lists once, and they are the vendor's from then on.
    ADD COLUMN from_vendor  boolean NOT NULL DEFAULT false;
ALTER TABLE categories ADD COLUMN available boolean NOT NULL DEFAULT true;

-- Each change of a product's face value range, with its time.
CREATE TABLE product_price_history (
    id                      bigserial     PRIMARY KEY,
    product_id              bigint        NOT NULL REFERENCES products (id),
    changed_at              timestamptz   NOT NULL DEFAULT now(),
    previous_min_face_value numeric(14,2) NOT NULL,
    previous_max_face_value numeric(14,2) NOT NULL,
    min_face_value          numeric(14,2) NOT NULL,
    max_face_value          numeric(14,2) NOT NULL
);
CREATE INDEX product_price_history_product ON product_price_history (product_id, changed_at);

-- One row per part of a sync (categories, catalog) and its outcome; the first sync still looks for a
-- successful catalog row.
ALTER TABLE catalog_syncs
    ADD COLUMN part        text    NOT NULL DEFAULT 'catalog' CHECK (part IN ('catalog', 'categories')),
    ADD COLUMN outcome     text    NOT NULL DEFAULT 'ok' CHECK (outcome IN ('ok', 'failed', 'rate-limited')),
    ADD COLUMN detail      text,
    ADD COLUMN new_rows    integer NOT NULL DEFAULT 0,
    ADD COLUMN changed     integer NOT NULL DEFAULT 0,
    ADD COLUMN unchanged   integer NOT NULL DEFAULT 0,
    ADD COLUMN unavailable integer NOT NULL DEFAULT 0;
CREATE INDEX catalog_syncs_part ON catalog_syncs (part, id);

-- Vendor rate limits shared by every node: a row per limiter (locked while a call is counted), its calls
-- of the current window, and how long the vendor told us to wait.
-- A 429 gives its call back (the retry does not spend the budget) once per window: refunded_at says when.
CREATE TABLE vendor_rate_limits (
    name              text        PRIMARY KEY,
    retry_after_until timestamptz,
    refunded_at       timestamptz
);
CREATE TABLE vendor_calls (
    id      bigserial   PRIMARY KEY,
    limiter text        NOT NULL REFERENCES vendor_rate_limits (name),
    at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX vendor_calls_limiter ON vendor_calls (limiter, at);

-- Recurring jobs: when each runs next, a run asked for by an operator, a run in progress (a job that
-- works outside one transaction, like a catalog sync: since when, and which run, so only that run ends it),
-- and the last run's node, duration and outcome.
ALTER TABLE schedule_runs
    ADD COLUMN next_run_at   timestamptz,
    ADD COLUMN requested_at  timestamptz,
    ADD COLUMN running_since timestamptz,
    ADD COLUMN run_id        uuid,
    ADD COLUMN node          text,
    ADD COLUMN duration_ms   integer,
    ADD COLUMN outcome       text,
    ADD COLUMN failures      integer NOT NULL DEFAULT 0;
