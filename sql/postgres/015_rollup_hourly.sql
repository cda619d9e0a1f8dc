-- An hour level of the sales pre-aggregates on PostgreSQL (issue 17), and exact sets in every level.
--
-- `rollup_hourly` (created by 001 and unused until now) gets one row per tenant, epoch hour
-- (floor(epoch seconds / 3600)) and status, with the measures and definitions of `rollup_daily`, kept by
-- the same refresher from the same pending writes and the same facts (each order whole). A month by hour
-- reads its 720 hours' rows here instead of aggregating the month's orders; a range in whole hours that
-- are not whole days reads its whole days from `rollup_daily` and the hours around them from here. Its
-- `dirty` flag was never used (a pending write names its days in `rollup_pending`), and its sketches are
-- always written, as the daily rows' are.
ALTER TABLE rollup_hourly DROP COLUMN dirty;
ALTER TABLE rollup_hourly ALTER COLUMN customers_hll SET NOT NULL;
ALTER TABLE rollup_hourly ALTER COLUMN values_tdigest SET NOT NULL;

-- Every level now also keeps its rows' distinct customers and order values as exact sorted lists
-- (`customers_exact`, `values_exact`: varint-coded, a byte or two per value, src/sketches/exact-sets.ts),
-- as SQLite's rollups do, so exact answers by time and category merge rows instead of aggregating the
-- orders. 001 gave the hourly, daily and daily-by-category tables the columns; the monthly one gets them here.
ALTER TABLE rollup_monthly_category ADD COLUMN customers_exact bytea;
ALTER TABLE rollup_monthly_category ADD COLUMN values_exact bytea;

-- Every tenant's pre-aggregates are built again from its orders, with the hours and the exact lists: the
-- refresher builds a tenant with no watermark whole (its old rows deleted first), and reads answer from
-- the orders until it has.
DELETE FROM rollup_watermark;
