-- Orderflow on PostgreSQL: the catalog and every tenant's data in one database (issue 17).
--
-- Tenancy: every tenant table carries tenant_id, leading its primary key and every index, and is
-- PARTITIONED BY LIST (tenant_id): one partition per tenant per table, created with the tenant
-- (src/storage/postgres/tenant-partitions.ts), as SQLite gives each tenant its own shard file. LIST, not
-- HASH: a tenant's rows sit together (its vacuum, statistics and size are its own), deleting a tenant is
-- DROP of its partitions rather than a DELETE over shared ones, and the same column is Citus's
-- distribution column when one machine no longer holds them (co-located on tenant_id; no query joins
-- two tenants). Times are timestamptz; money is bigint minor units; ids from sequences (PostgreSQL 15
-- has no identity columns on partitioned tables).

-- The catalog: global, not partitioned (a Citus reference table).
CREATE TABLE tenants (
  tenant_id   integer     PRIMARY KEY,
  name        text        NOT NULL UNIQUE,
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
  key_id      bigserial   PRIMARY KEY,
  tenant_id   integer     NOT NULL REFERENCES tenants (tenant_id),
  lookup_id   text        NOT NULL UNIQUE,   -- public part of the key, used to find the row
  secret_hash bytea       NOT NULL,          -- sha256 of the secret part; the secret itself is never stored
  created_at  timestamptz NOT NULL DEFAULT now(),
  revoked_at  timestamptz
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

CREATE TABLE settings (
  name  text PRIMARY KEY,
  value text NOT NULL
);

-- One tenant's data.
CREATE TABLE products (
  tenant_id         integer     NOT NULL,
  product_id        bigint      NOT NULL,
  sku               text        NOT NULL,
  name              text        NOT NULL,
  category          text        NOT NULL,
  price_cents       bigint      NOT NULL CHECK (price_cents >= 0),
  currency          char(3)     NOT NULL DEFAULT 'USD',
  stock             bigint      NOT NULL DEFAULT 0 CHECK (stock >= 0),
  stock_version     bigint      NOT NULL DEFAULT 0,
  stock_written_at  timestamptz,           -- occurred_at of the last applied last_write_wins write
  price_observed_at timestamptz,
  updated_at        timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, product_id)
) PARTITION BY LIST (tenant_id);
CREATE INDEX products_category ON products (tenant_id, category);

CREATE SEQUENCE customers_customer_pk_seq;
CREATE TABLE customers (
  tenant_id    integer NOT NULL,
  customer_pk  bigint  NOT NULL DEFAULT nextval('customers_customer_pk_seq'),
  customer_id  text    NOT NULL,
  name         text    NOT NULL,
  email        text    NOT NULL,
  erased_at    timestamptz,
  -- full-text search over name and email, prefix queries with to_tsquery('simple', 'ada:*')
  search       tsvector GENERATED ALWAYS AS (to_tsvector('simple', name || ' ' || email)) STORED,
  PRIMARY KEY (tenant_id, customer_pk),
  UNIQUE (tenant_id, customer_id)
) PARTITION BY LIST (tenant_id);
CREATE INDEX customers_email ON customers (tenant_id, email);
-- one tenant per partition, so the GIN index of a partition is already one tenant's (no btree_gin needed)
CREATE INDEX customers_search ON customers USING gin (search);

CREATE SEQUENCE orders_order_pk_seq;
CREATE TABLE orders (
  tenant_id    integer     NOT NULL,
  order_pk     bigint      NOT NULL DEFAULT nextval('orders_order_pk_seq'),  -- the keyset tiebreak
  order_id     text        NOT NULL,
  customer_pk  bigint      NOT NULL,
  status       text        NOT NULL CHECK (status IN ('pending','paid','shipped','delivered','cancelled','refunded')),
  currency     char(3)     NOT NULL,
  created_at   timestamptz NOT NULL,
  total_cents  bigint      NOT NULL CHECK (total_cents >= 0),
  item_count   integer     NOT NULL,
  ingested_at  timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, order_pk),
  UNIQUE (tenant_id, order_id),
  FOREIGN KEY (tenant_id, customer_pk) REFERENCES customers (tenant_id, customer_pk)
) PARTITION BY LIST (tenant_id);
-- the keyset order of search and export, covering the columns their filters read
CREATE INDEX orders_created ON orders (tenant_id, created_at DESC, order_pk DESC) INCLUDE (status, total_cents);
CREATE INDEX orders_customer_created ON orders (tenant_id, customer_pk, created_at);

CREATE TABLE order_items (
  tenant_id         integer NOT NULL,
  order_pk          bigint  NOT NULL,
  line_no           integer NOT NULL,
  product_id        bigint  NOT NULL,
  quantity          integer NOT NULL CHECK (quantity > 0),
  unit_price_cents  bigint  NOT NULL CHECK (unit_price_cents >= 0),
  PRIMARY KEY (tenant_id, order_pk, line_no),
  FOREIGN KEY (tenant_id, order_pk) REFERENCES orders (tenant_id, order_pk)
) PARTITION BY LIST (tenant_id);
CREATE INDEX order_items_product ON order_items (tenant_id, product_id, order_pk);

CREATE TABLE price_history (
  tenant_id    integer     NOT NULL,
  product_id   bigint      NOT NULL,
  observed_at  timestamptz NOT NULL,
  price_cents  bigint      NOT NULL,
  event_id     text,
  PRIMARY KEY (tenant_id, product_id, observed_at, price_cents)
) PARTITION BY LIST (tenant_id);

-- The change stream: seq is monotonic and never reused, so SSE clients resume with Last-Event-ID.
CREATE SEQUENCE price_events_seq_seq;
CREATE TABLE price_events (
  tenant_id            integer     NOT NULL,
  seq                  bigint      NOT NULL DEFAULT nextval('price_events_seq_seq'),
  event_id             text        NOT NULL,
  product_id           bigint      NOT NULL,
  previous_price_cents bigint,
  price_cents          bigint      NOT NULL,
  change_pct           double precision,
  anomaly              boolean     NOT NULL,
  status               text        NOT NULL CHECK (status IN ('accepted','review','reviewed','dismissed')),
  reason               text,
  fingerprint          text        NOT NULL,
  observed_at          timestamptz NOT NULL,
  received_at          timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, seq),
  UNIQUE (tenant_id, event_id)
) PARTITION BY LIST (tenant_id);
CREATE INDEX price_events_product_anomaly ON price_events (tenant_id, product_id, anomaly, seq);
CREATE INDEX price_events_anomaly ON price_events (tenant_id, anomaly, seq);

CREATE TABLE stock_events (
  tenant_id         integer     NOT NULL,
  event_id          text        NOT NULL,
  product_id        bigint      NOT NULL,
  mode              text        NOT NULL,
  delta             bigint,
  quantity          bigint,
  expected_version  bigint,
  occurred_at       timestamptz NOT NULL,
  applied_at        timestamptz NOT NULL,
  stock_after       bigint      NOT NULL,
  version_after     bigint      NOT NULL,
  PRIMARY KEY (tenant_id, event_id)
) PARTITION BY LIST (tenant_id);
CREATE INDEX stock_events_product ON stock_events (tenant_id, product_id, applied_at);

-- Request-level idempotency (Stripe style): one record per key, in_flight -> completed.
CREATE TABLE idempotency_keys (
  tenant_id        integer     NOT NULL,
  scope            text        NOT NULL,    -- which endpoint the key belongs to
  idem_key         text        NOT NULL,
  fingerprint      text        NOT NULL,
  state            text        NOT NULL CHECK (state IN ('in_flight','completed')),
  owner            text,                    -- the boot that holds an in-flight key
  response_status  integer,
  response_body    text,
  created_at       timestamptz NOT NULL,
  expires_at       timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, scope, idem_key)
) PARTITION BY LIST (tenant_id);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (tenant_id, expires_at);

CREATE TABLE uploads (
  tenant_id        integer     NOT NULL,
  upload_id        text        NOT NULL,
  upload_length    bigint,                      -- NULL while deferred
  received_offset  bigint      NOT NULL DEFAULT 0,  -- durable bytes in the staging file
  processed_offset bigint      NOT NULL DEFAULT 0,  -- committed with the rows it covers
  metadata         jsonb       NOT NULL DEFAULT '{}',
  state            text        NOT NULL CHECK (state IN ('receiving','processing','complete','failed','terminated')),
  rows_received    bigint      NOT NULL DEFAULT 0,
  rows_inserted    bigint      NOT NULL DEFAULT 0,
  rows_duplicate   bigint      NOT NULL DEFAULT 0,
  rows_failed      bigint      NOT NULL DEFAULT 0,
  lines_seen       bigint      NOT NULL DEFAULT 0,
  decoder_state    bytea,
  error            text,
  created_at       timestamptz NOT NULL,
  updated_at       timestamptz NOT NULL,
  expires_at       timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, upload_id)
) PARTITION BY LIST (tenant_id);

CREATE TABLE upload_errors (
  tenant_id  integer NOT NULL,
  upload_id  text    NOT NULL,
  line       bigint  NOT NULL,
  order_id   text,
  code       text    NOT NULL,
  field      text,
  message    text    NOT NULL,
  PRIMARY KEY (tenant_id, upload_id, line, code)
) PARTITION BY LIST (tenant_id);

CREATE TABLE customer_erasures (
  tenant_id    integer     NOT NULL,
  erasure_id   bigserial,
  customer_pk  bigint      NOT NULL,
  erased_at    timestamptz NOT NULL,
  request_id   text        NOT NULL,
  matched_by   text        NOT NULL CHECK (matched_by IN ('customer_id', 'email')),
  purged_idempotency_responses integer NOT NULL,
  purged_upload_errors         integer NOT NULL,
  PRIMARY KEY (tenant_id, erasure_id)
) PARTITION BY LIST (tenant_id);

CREATE TABLE exports (
  tenant_id         integer     NOT NULL,
  export_id         text        NOT NULL,
  state             text        NOT NULL CHECK (state IN ('queued','running','complete','failed','expired')),
  format            text        NOT NULL,
  compression       text        NOT NULL,
  request           jsonb       NOT NULL,   -- filters and fields
  rows_written      bigint      NOT NULL DEFAULT 0,
  bytes_written     bigint      NOT NULL DEFAULT 0,
  checkpoint_key    text,                   -- keyset position after the last durable row
  size              bigint,
  sha256            text,
  error             text,
  attempts          integer     NOT NULL DEFAULT 0,
  resumed_from_rows bigint,                 -- rows already durable when the last attempt began
  created_at        timestamptz NOT NULL,
  finished_at       timestamptz,
  expires_at        timestamptz,
  PRIMARY KEY (tenant_id, export_id),
  UNIQUE (tenant_id, created_at)
) PARTITION BY LIST (tenant_id);

CREATE TABLE export_parts (
  tenant_id       integer NOT NULL,
  export_id       text    NOT NULL,
  part            integer NOT NULL,
  floor_key       text,
  checkpoint_key  text,
  rows_written    bigint  NOT NULL DEFAULT 0,
  bytes_written   bigint  NOT NULL DEFAULT 0,   -- durable bytes of the part's own file
  done            boolean NOT NULL DEFAULT false,
  PRIMARY KEY (tenant_id, export_id, part)
) PARTITION BY LIST (tenant_id);

CREATE TABLE export_row_groups (
  tenant_id  integer NOT NULL,
  export_id  text    NOT NULL,
  part       integer NOT NULL,
  ordinal    integer NOT NULL,
  rows       bigint  NOT NULL,
  meta       bytea   NOT NULL,   -- Thrift RowGroup
  PRIMARY KEY (tenant_id, export_id, part, ordinal)
) PARTITION BY LIST (tenant_id);

-- Sales pre-aggregates, keyed by status so any status filter is a merge; sketches as bytea, built and
-- merged by our code (src/sketches) as on SQLite.
CREATE TABLE rollup_hourly (
  tenant_id        integer     NOT NULL,
  hour             bigint      NOT NULL,     -- epoch hour
  status           text        NOT NULL,
  orders           bigint      NOT NULL,
  units            bigint      NOT NULL,
  revenue_cents    bigint      NOT NULL,
  customers_hll    bytea,
  values_tdigest   bytea,
  customers_exact  bytea,
  values_exact     bytea,
  dirty            boolean     NOT NULL DEFAULT false,
  updated_at       timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, hour, status)
) PARTITION BY LIST (tenant_id);

CREATE TABLE rollup_daily (
  tenant_id        integer     NOT NULL,
  day              bigint      NOT NULL,     -- epoch day
  status           text        NOT NULL,
  orders           bigint      NOT NULL,
  units            bigint      NOT NULL,
  revenue_cents    bigint      NOT NULL,
  customers_hll    bytea       NOT NULL,
  values_tdigest   bytea       NOT NULL,
  customers_exact  bytea,
  values_exact     bytea,
  updated_at       timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, day, status)
) PARTITION BY LIST (tenant_id);

CREATE TABLE rollup_daily_category (
  tenant_id         integer NOT NULL,
  day               bigint  NOT NULL,
  status            text    NOT NULL,
  category          text    NOT NULL,
  orders            bigint  NOT NULL,
  units             bigint  NOT NULL,
  revenue_cents     bigint  NOT NULL,
  order_value_cents bigint  NOT NULL,
  customers_hll     bytea   NOT NULL,
  values_tdigest    bytea   NOT NULL,
  customers_exact   bytea,
  values_exact      bytea,
  PRIMARY KEY (tenant_id, day, status, category)
) PARTITION BY LIST (tenant_id);

CREATE TABLE rollup_daily_product (
  tenant_id         integer NOT NULL,
  day               bigint  NOT NULL,
  status            text    NOT NULL,
  product_id        bigint  NOT NULL,
  orders            bigint  NOT NULL,
  units             bigint  NOT NULL,
  revenue_cents     bigint  NOT NULL,
  order_value_cents bigint  NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, day, status, product_id)
) PARTITION BY LIST (tenant_id);

CREATE TABLE rollup_daily_product_sketch (
  tenant_id       integer NOT NULL,
  day             bigint  NOT NULL,
  status          text    NOT NULL,
  product_id      bigint  NOT NULL,
  customers_hll   bytea   NOT NULL,
  values_tdigest  bytea   NOT NULL,
  PRIMARY KEY (tenant_id, day, status, product_id)
) PARTITION BY LIST (tenant_id);

CREATE TABLE rollup_dirty_hours (
  tenant_id  integer NOT NULL,
  hour       bigint  NOT NULL,   -- epoch hour
  PRIMARY KEY (tenant_id, hour)
) PARTITION BY LIST (tenant_id);

CREATE TABLE rollup_watermark (
  tenant_id  integer NOT NULL,
  order_pk   bigint  NOT NULL,
  PRIMARY KEY (tenant_id)
) PARTITION BY LIST (tenant_id);

CREATE TABLE shard_meta (
  tenant_id  integer NOT NULL,
  name       text    NOT NULL,
  value      text    NOT NULL,
  PRIMARY KEY (tenant_id, name)
) PARTITION BY LIST (tenant_id);
