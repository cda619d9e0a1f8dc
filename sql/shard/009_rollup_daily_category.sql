-- A per-day, per-category pre-aggregate with sketches, so approx by category merges rollup rows like
-- approx by day does (categories are few: a year is ~365 x statuses x categories rows). orders and
-- customers count orders holding a line of the category; revenue sums those lines; order_value_cents
-- sums those orders' totals once each (the average order value); the t-digest holds those totals.
-- Rebuilt with the day's other rollups. Product categories never change after ingest (products are
-- insert-only), so a day's rows stay right until its orders change.
CREATE TABLE rollup_daily_category (
  day               INTEGER NOT NULL,     -- epoch day
  status            TEXT    NOT NULL,
  category          TEXT    NOT NULL,
  orders            INTEGER NOT NULL,
  units             INTEGER NOT NULL,
  revenue_cents     INTEGER NOT NULL,
  order_value_cents INTEGER NOT NULL,
  customers_hll     BLOB    NOT NULL,
  values_tdigest    BLOB    NOT NULL,
  PRIMARY KEY (day, status, category)
);
-- days already aggregated get the new level on their next rebuild
INSERT OR IGNORE INTO rollup_dirty_hours (hour) SELECT DISTINCT hour FROM rollup_hourly;
