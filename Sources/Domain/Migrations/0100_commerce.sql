-- The gift-card domain (issue 5): partners and their API keys, the catalog, partner pricing, wallets,
-- inventory reservations and orders. Amounts are numeric(14,2) in the product's currency.

-- default_price_percent: what the partner pays per unit of face value (97.5 = a 2.5% discount) for
-- every product without a partner_pricing row of its own.
CREATE TABLE partners (
    id                    uuid         PRIMARY KEY,
    name                  text         NOT NULL UNIQUE,
    default_price_percent numeric(6,3) NOT NULL CHECK (default_price_percent > 0 AND default_price_percent <= 200),
    created_at            timestamptz  NOT NULL DEFAULT now()
);

-- API keys exist only as HMAC-SHA256(secret, key): the key itself is shown once and never stored.
CREATE TABLE partner_api_keys (
    key_hash   bytea       PRIMARY KEY,
    partner_id uuid        NOT NULL REFERENCES partners (id),
    key_prefix text        NOT NULL,              -- the first characters, so an operator can tell keys apart
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

-- The vendor's catalog, upserted by the vendor's internal ids.
CREATE TABLE categories (
    internal_id text        PRIMARY KEY,
    name        text        NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE products (
    id             bigserial     PRIMARY KEY,
    internal_id    text          NOT NULL UNIQUE,
    sku            text          NOT NULL UNIQUE,
    name           text          NOT NULL,
    brand          text          NOT NULL,
    category_id    text          REFERENCES categories (internal_id),
    country        text          NOT NULL DEFAULT '',
    currency       text          NOT NULL,
    min_face_value numeric(14,2) NOT NULL CHECK (min_face_value > 0),
    max_face_value numeric(14,2) NOT NULL CHECK (max_face_value >= min_face_value),
    updated_at     timestamptz   NOT NULL DEFAULT now()
);

-- A partner's price for one product, overriding its default.
CREATE TABLE partner_pricing (
    partner_id    uuid         NOT NULL REFERENCES partners (id),
    product_id    bigint       NOT NULL REFERENCES products (id),
    price_percent numeric(6,3) NOT NULL CHECK (price_percent > 0 AND price_percent <= 200),
    PRIMARY KEY (partner_id, product_id)
);

-- Wallets: a ledger of entries; the balance is their sum, kept beside them in the same transaction and
-- never negative. Each entry is idempotent on its key (e.g. '<order id>:debit').
CREATE TABLE wallets (
    partner_id uuid          PRIMARY KEY REFERENCES partners (id),
    balance    numeric(14,2) NOT NULL DEFAULT 0 CHECK (balance >= 0),
    updated_at timestamptz   NOT NULL DEFAULT now()
);

CREATE TABLE wallet_entries (
    id              bigserial     PRIMARY KEY,
    partner_id      uuid          NOT NULL REFERENCES partners (id),
    kind            text          NOT NULL CHECK (kind IN ('topup', 'debit', 'refund')),
    amount          numeric(14,2) NOT NULL,       -- signed: debits are negative
    idempotency_key text          NOT NULL UNIQUE,
    order_id        uuid,
    created_at      timestamptz   NOT NULL DEFAULT now(),
    CHECK ((kind = 'debit') = (amount < 0))
);
CREATE INDEX wallet_entries_partner ON wallet_entries (partner_id);

-- Inventory: units on hand per product; a reservation holds some for 15 minutes unless confirmed.
CREATE TABLE inventory_stock (
    product_id bigint      PRIMARY KEY REFERENCES products (id),
    available  integer     NOT NULL CHECK (available >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE inventory_reservations (
    id         uuid        PRIMARY KEY,
    order_id   uuid        NOT NULL UNIQUE,
    product_id bigint      NOT NULL REFERENCES products (id),
    quantity   integer     NOT NULL CHECK (quantity > 0),
    status     text        NOT NULL CHECK (status IN ('reserved', 'confirmed', 'released', 'expired')),
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX inventory_reservations_expiry ON inventory_reservations (expires_at) WHERE status = 'reserved';

CREATE TABLE inventory_movements (
    id             bigserial   PRIMARY KEY,
    product_id     bigint      NOT NULL REFERENCES products (id),
    reservation_id uuid        REFERENCES inventory_reservations (id),
    quantity       integer     NOT NULL,          -- negative: stock out
    reason         text        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);

-- Orders: idempotent on (partner, reference id). `status` is what partners see (Processing, Completed,
-- Failed); `step` is where the saga is, and only moves forward.
CREATE TABLE orders (
    id                uuid          PRIMARY KEY,
    partner_id        uuid          NOT NULL REFERENCES partners (id),
    reference_id      text          NOT NULL,
    product_id        bigint        NOT NULL REFERENCES products (id),
    sku               text          NOT NULL,
    face_value        numeric(14,2) NOT NULL,
    quantity          integer       NOT NULL CHECK (quantity > 0),
    unit_price        numeric(14,2) NOT NULL,
    total             numeric(14,2) NOT NULL,
    currency          text          NOT NULL,
    status            text          NOT NULL CHECK (status IN ('Processing', 'Completed', 'Failed')),
    step              text          NOT NULL,
    failure_reason    text,
    vendor_request_id text,
    vendor_order_id   text,
    cards             jsonb,
    correlation_id    text          NOT NULL,
    created_at        timestamptz   NOT NULL DEFAULT now(),
    updated_at        timestamptz   NOT NULL DEFAULT now(),
    UNIQUE (partner_id, reference_id)
);
CREATE INDEX orders_backfill ON orders (created_at) WHERE vendor_order_id IS NULL AND status = 'Processing';
