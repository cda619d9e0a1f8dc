-- An hour level of the sales pre-aggregates on PostgreSQL (issue 17): `rollup_hourly` (created by 001 and
-- unused until now) gets one row per tenant, epoch hour (floor(epoch seconds / 3600)) and status, with the
-- measures and definitions of `rollup_daily`, kept by the same refresher from the same pending writes and
-- the same facts (each order whole). A month by hour reads its 720 hours' rows here instead of aggregating
-- the month's orders; a range in whole hours that are not whole days reads its whole days from
-- `rollup_daily` and the hours around them from here. Its `dirty` flag was never used (a pending write
-- names its days in `rollup_pending`), and its sketches are always written, as the daily rows' are.
ALTER TABLE rollup_hourly DROP COLUMN dirty;
ALTER TABLE rollup_hourly ALTER COLUMN customers_hll SET NOT NULL;
ALTER TABLE rollup_hourly ALTER COLUMN values_tdigest SET NOT NULL;
-- Every tenant's pre-aggregates are built again from its orders, the hours with them: the refresher builds
-- a tenant with no watermark whole, and reads answer from the orders until it has.
DELETE FROM rollup_watermark;
