-- Sketches per product and day, so approx by product merges rollup sketches like every other group:
-- the HyperLogLog of the customers and the t-digest of the order totals of the day's orders (of one
-- status) holding the product. Kept apart from rollup_daily_product (the sums), which the ranking
-- reads in full, so the ranking does not read sketches; the ranked products' rows are then found day
-- by day through the key. Keyed by day first, like the sums: a rebuilt day replaces one range of rows
-- (keyed by product first, a full rebuild took 3.3x as long: every day wrote pages all over the table).
-- Most rows hold one or two orders: ~20 bytes of sketches (t-digest encoding version 2 stores such
-- digests as points).
CREATE TABLE rollup_daily_product_sketch (
  day             INTEGER NOT NULL,     -- epoch day
  status          TEXT    NOT NULL,
  product_id      INTEGER NOT NULL,
  customers_hll   BLOB    NOT NULL,
  values_tdigest  BLOB    NOT NULL,
  PRIMARY KEY (day, status, product_id)
) WITHOUT ROWID;
-- days already aggregated get the new level on their next rebuild
INSERT OR IGNORE INTO rollup_dirty_hours (hour) SELECT DISTINCT hour FROM rollup_hourly;
