-- A month level over rollup_daily_category: the same columns per (month, status, category), so a year by
-- category merges 12 rows per category and status instead of 365 (the per-day rows are what a read of a
-- year spent its time on: handing ~11k rows with their blobs to JS and merging their sketches). `month` is
-- the epoch month, (UTC year - 1970) * 12 + (UTC month - 1).
--
-- A month's row is valid only while the month is not listed in rollup_dirty_months: marking an hour dirty
-- marks its month too (same transaction); rebuilding a day leaves its month marked, and the month is merged
-- again from its day rows once none of its hours is dirty (same transaction as the last of them). New orders
-- folded in as deltas are merged into a clean month's rows as into its days'. A read merges the clean
-- months' rows and the day rows of the rest (edge days, dirty months).
CREATE TABLE rollup_monthly_category (
  month             INTEGER NOT NULL,     -- epoch month
  status            TEXT    NOT NULL,
  category          TEXT    NOT NULL,
  orders            INTEGER NOT NULL,
  units             INTEGER NOT NULL,
  revenue_cents     INTEGER NOT NULL,
  order_value_cents INTEGER NOT NULL,
  customers_hll     BLOB    NOT NULL,
  values_tdigest    BLOB    NOT NULL,
  customers_exact   BLOB,
  values_exact      BLOB,
  PRIMARY KEY (month, status, category)
);
CREATE TABLE rollup_dirty_months (
  month INTEGER PRIMARY KEY   -- epoch month
);
-- months already aggregated by day are merged on the next catch-up (their days are clean)
INSERT OR IGNORE INTO rollup_dirty_months (month)
  SELECT DISTINCT (CAST(strftime('%Y', day * 86400, 'unixepoch') AS INTEGER) - 1970) * 12
    + CAST(strftime('%m', day * 86400, 'unixepoch') AS INTEGER) - 1
  FROM rollup_daily_category;
