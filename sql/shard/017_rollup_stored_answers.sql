-- A time bucket that is one pre-aggregated row (by hour from the hourly level, by day from the daily level,
-- for the default sale statuses' pre-merged row) needs no sketch or list merged: its answer is fixed when the
-- row is written. Each hourly and daily row keeps it, both ways: exact (distinct customers and nearest-rank
-- percentiles from its exact sets) and approx (the HyperLogLog estimate and the t-digest's percentiles), so
-- such a read selects a few integers per bucket and no blob. NULL in rows written before this migration:
-- a read that meets one merges the row's structures as before, and every hour is rebuilt once.
ALTER TABLE rollup_hourly ADD COLUMN exact_customers INTEGER;
ALTER TABLE rollup_hourly ADD COLUMN exact_p50_cents INTEGER;
ALTER TABLE rollup_hourly ADD COLUMN exact_p95_cents INTEGER;
ALTER TABLE rollup_hourly ADD COLUMN exact_p99_cents INTEGER;
ALTER TABLE rollup_hourly ADD COLUMN approx_customers INTEGER;
ALTER TABLE rollup_hourly ADD COLUMN approx_p50_cents INTEGER;
ALTER TABLE rollup_hourly ADD COLUMN approx_p95_cents INTEGER;
ALTER TABLE rollup_hourly ADD COLUMN approx_p99_cents INTEGER;
ALTER TABLE rollup_daily ADD COLUMN exact_customers INTEGER;
ALTER TABLE rollup_daily ADD COLUMN exact_p50_cents INTEGER;
ALTER TABLE rollup_daily ADD COLUMN exact_p95_cents INTEGER;
ALTER TABLE rollup_daily ADD COLUMN exact_p99_cents INTEGER;
ALTER TABLE rollup_daily ADD COLUMN approx_customers INTEGER;
ALTER TABLE rollup_daily ADD COLUMN approx_p50_cents INTEGER;
ALTER TABLE rollup_daily ADD COLUMN approx_p95_cents INTEGER;
ALTER TABLE rollup_daily ADD COLUMN approx_p99_cents INTEGER;
INSERT OR IGNORE INTO rollup_dirty_hours (hour) SELECT DISTINCT hour FROM rollup_hourly;
