-- The day level gains one more row per day: the default sale statuses (paid, shipped, delivered)
-- merged, under the status key 'paid,shipped,delivered' (no order has it), so a default request by
-- day reads and merges one row per day instead of three. Written with the day's other rows.
INSERT OR IGNORE INTO rollup_dirty_hours (hour) SELECT DISTINCT hour FROM rollup_hourly;
