-- The per-day, per-category level gains what the day level has: the exact sets (sorted distinct customer
-- ids and sorted order values, delta-varint encoded), so exact by category merges a few rows per day
-- instead of scanning every order line, and one more row per day and category for the default sale
-- statuses pre-merged under the status key 'paid,shipped,delivered' (no order has it), so a default
-- request reads one row per day and category instead of three.
ALTER TABLE rollup_daily_category ADD COLUMN customers_exact BLOB;
ALTER TABLE rollup_daily_category ADD COLUMN values_exact BLOB;
-- days already aggregated get the new columns and rows on their next rebuild
INSERT OR IGNORE INTO rollup_dirty_hours (hour) SELECT DISTINCT hour FROM rollup_hourly;
