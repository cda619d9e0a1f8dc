-- One tenant's data. Times are integer epoch milliseconds (UTC); money is integer minor units.

CREATE TABLE products (
  product_id       INTEGER PRIMARY KEY,
  sku              TEXT    NOT NULL,
  name             TEXT    NOT NULL,
  category         TEXT    NOT NULL,
  price_cents      INTEGER NOT NULL CHECK (price_cents >= 0),
  currency         TEXT    NOT NULL DEFAULT 'USD',
  stock            INTEGER NOT NULL DEFAULT 0 CHECK (stock >= 0),
  stock_version    INTEGER NOT NULL DEFAULT 0,
  stock_written_at INTEGER,            -- occurred_at of the last applied last_write_wins write
  price_observed_at INTEGER,
  updated_at       INTEGER NOT NULL
);
CREATE INDEX products_category ON products (category);

-- Customers are normalised: one row per customer_id, so full-text search indexes customers, not orders.
CREATE TABLE customers (
  customer_pk  INTEGER PRIMARY KEY,     -- dense integer id: sketches and bitmaps hash/use it
  customer_id  TEXT    NOT NULL UNIQUE,
  name         TEXT    NOT NULL,
  email        TEXT    NOT NULL,
  erased_at    INTEGER
);
CREATE INDEX customers_email ON customers (email);

CREATE VIRTUAL TABLE customers_fts USING fts5 (
  name, email,
  content = 'customers', content_rowid = 'customer_pk',
  tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER customers_fts_insert AFTER INSERT ON customers BEGIN
  INSERT INTO customers_fts (rowid, name, email) VALUES (new.customer_pk, new.name, new.email);
END;
CREATE TRIGGER customers_fts_delete AFTER DELETE ON customers BEGIN
  INSERT INTO customers_fts (customers_fts, rowid, name, email) VALUES ('delete', old.customer_pk, old.name, old.email);
END;
CREATE TRIGGER customers_fts_update AFTER UPDATE OF name, email ON customers BEGIN
  INSERT INTO customers_fts (customers_fts, rowid, name, email) VALUES ('delete', old.customer_pk, old.name, old.email);
  INSERT INTO customers_fts (rowid, name, email) VALUES (new.customer_pk, new.name, new.email);
END;

CREATE TABLE orders (
  order_pk     INTEGER PRIMARY KEY,     -- stable tiebreak of the keyset order
  order_id     TEXT    NOT NULL UNIQUE,
  customer_pk  INTEGER NOT NULL REFERENCES customers (customer_pk),
  status       TEXT    NOT NULL CHECK (status IN ('pending','paid','shipped','delivered','cancelled','refunded')),
  currency     TEXT    NOT NULL,
  created_at   INTEGER NOT NULL,
  total_cents  INTEGER NOT NULL CHECK (total_cents >= 0),
  item_count   INTEGER NOT NULL,
  ingested_at  INTEGER NOT NULL
);
CREATE INDEX orders_created ON orders (created_at, order_pk);
CREATE INDEX orders_status_created ON orders (status, created_at, order_pk);
CREATE INDEX orders_customer_created ON orders (customer_pk, created_at);

CREATE TABLE order_items (
  order_pk          INTEGER NOT NULL REFERENCES orders (order_pk),
  line_no           INTEGER NOT NULL,
  product_id        INTEGER NOT NULL,
  quantity          INTEGER NOT NULL CHECK (quantity > 0),
  unit_price_cents  INTEGER NOT NULL CHECK (unit_price_cents >= 0),
  PRIMARY KEY (order_pk, line_no)
) WITHOUT ROWID;
CREATE INDEX order_items_product ON order_items (product_id, order_pk);

CREATE TABLE price_history (
  product_id   INTEGER NOT NULL,
  observed_at  INTEGER NOT NULL,
  price_cents  INTEGER NOT NULL,
  event_id     TEXT,
  PRIMARY KEY (product_id, observed_at, price_cents)
) WITHOUT ROWID;

-- The change stream: seq is monotonic and never reused, so SSE clients resume with Last-Event-ID.
CREATE TABLE price_events (
  seq                  INTEGER PRIMARY KEY AUTOINCREMENT,
  event_id             TEXT    NOT NULL UNIQUE,
  product_id           INTEGER NOT NULL,
  previous_price_cents INTEGER,
  price_cents          INTEGER NOT NULL,
  change_pct           REAL,
  anomaly              INTEGER NOT NULL,
  status               TEXT    NOT NULL CHECK (status IN ('accepted','review','reviewed','dismissed')),
  reason               TEXT,
  fingerprint          TEXT    NOT NULL,
  observed_at          INTEGER NOT NULL,
  received_at          INTEGER NOT NULL
);
CREATE INDEX price_events_product_anomaly ON price_events (product_id, anomaly, seq);
CREATE INDEX price_events_anomaly ON price_events (anomaly, seq);

CREATE TABLE stock_events (
  event_id          TEXT    PRIMARY KEY,
  product_id        INTEGER NOT NULL,
  mode              TEXT    NOT NULL,
  delta             INTEGER,
  quantity          INTEGER,
  expected_version  INTEGER,
  occurred_at       INTEGER NOT NULL,
  applied_at        INTEGER NOT NULL,
  stock_after       INTEGER NOT NULL,
  version_after     INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX stock_events_product ON stock_events (product_id, applied_at);

-- Request-level idempotency (Stripe style): one record per key, in_flight -> completed.
CREATE TABLE idempotency_keys (
  scope            TEXT    NOT NULL,    -- which endpoint the key belongs to
  idem_key         TEXT    NOT NULL,
  fingerprint      TEXT    NOT NULL,
  state            TEXT    NOT NULL CHECK (state IN ('in_flight','completed')),
  response_status  INTEGER,
  response_body    TEXT,
  created_at       INTEGER NOT NULL,
  expires_at       INTEGER NOT NULL,
  PRIMARY KEY (scope, idem_key)
) WITHOUT ROWID;
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);

CREATE TABLE uploads (
  upload_id        TEXT    PRIMARY KEY,
  upload_length    INTEGER,             -- NULL while deferred
  received_offset  INTEGER NOT NULL DEFAULT 0,   -- durable bytes in the staging file
  processed_offset INTEGER NOT NULL DEFAULT 0,   -- committed with the rows it covers
  metadata         TEXT    NOT NULL DEFAULT '{}',
  state            TEXT    NOT NULL CHECK (state IN ('receiving','processing','complete','failed','terminated')),
  rows_received    INTEGER NOT NULL DEFAULT 0,
  rows_inserted    INTEGER NOT NULL DEFAULT 0,
  rows_duplicate   INTEGER NOT NULL DEFAULT 0,
  rows_failed      INTEGER NOT NULL DEFAULT 0,
  lines_seen       INTEGER NOT NULL DEFAULT 0,
  decoder_state    BLOB,
  error            TEXT,
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL,
  expires_at       INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE upload_errors (
  upload_id  TEXT    NOT NULL,
  line       INTEGER NOT NULL,
  order_id   TEXT,
  code       TEXT    NOT NULL,
  field      TEXT,
  message    TEXT    NOT NULL,
  PRIMARY KEY (upload_id, line, code)
) WITHOUT ROWID;

CREATE TABLE exports (
  export_id        TEXT    PRIMARY KEY,
  state            TEXT    NOT NULL CHECK (state IN ('queued','running','complete','failed','expired')),
  format           TEXT    NOT NULL,
  compression      TEXT    NOT NULL,
  request          TEXT    NOT NULL,    -- filters and fields as JSON
  rows_written     INTEGER NOT NULL DEFAULT 0,
  bytes_written    INTEGER NOT NULL DEFAULT 0,
  checkpoint_key   TEXT,                -- keyset position after the last durable row
  size             INTEGER,
  sha256           TEXT,
  error            TEXT,
  created_at       INTEGER NOT NULL,
  finished_at      INTEGER,
  expires_at       INTEGER
) WITHOUT ROWID;

-- Pre-aggregates (the materialised-view simulation). Keyed by status so any status filter is a merge.
CREATE TABLE rollup_hourly (
  hour            INTEGER NOT NULL,     -- epoch hour
  status          TEXT    NOT NULL,
  orders          INTEGER NOT NULL,
  units           INTEGER NOT NULL,
  revenue_cents   INTEGER NOT NULL,
  customers_hll   BLOB,
  values_tdigest  BLOB,
  dirty           INTEGER NOT NULL DEFAULT 0,
  updated_at      INTEGER NOT NULL,
  PRIMARY KEY (hour, status)
) WITHOUT ROWID;

CREATE TABLE rollup_daily_product (
  day             INTEGER NOT NULL,     -- epoch day
  status          TEXT    NOT NULL,
  product_id      INTEGER NOT NULL,
  orders          INTEGER NOT NULL,
  units           INTEGER NOT NULL,
  revenue_cents   INTEGER NOT NULL,
  PRIMARY KEY (day, status, product_id)
) WITHOUT ROWID;

CREATE TABLE shard_meta (
  name  TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
