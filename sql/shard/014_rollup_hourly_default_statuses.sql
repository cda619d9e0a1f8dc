-- The hour level gains the day level's extra row: the default sale statuses (paid, shipped, delivered)
-- merged under the status key 'paid,shipped,delivered', so a default request by hour (or over a range
-- not in whole days) reads one row per hour instead of merging three. The day level is now merged from
-- these rows. Hours already aggregated get it on their next rebuild.
INSERT OR IGNORE INTO rollup_dirty_hours (hour) SELECT DISTINCT hour FROM rollup_hourly;
