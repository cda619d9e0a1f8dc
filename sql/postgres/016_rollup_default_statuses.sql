-- The default sale statuses pre-merged in the time levels of the sales pre-aggregates on PostgreSQL
-- (issue 17), as SQLite's hour and day levels keep them (sql/shard/011, 014): beside its row per status,
-- each hour of `rollup_hourly` and each day of `rollup_daily` gets a row under the status key
-- 'paid,shipped,delivered' (DEFAULT_SALES_KEY in src/domain/sales.ts: no order has it, statuses hold no
-- commas) holding the orders of those three statuses merged. A request of the default statuses reads that
-- row alone: a month by hour 720 rows instead of 2,160, a year by day 365 instead of 1,095. No column
-- changes; every tenant's pre-aggregates are built again from its orders, with those rows: the refresher
-- builds a tenant with no watermark whole (its old rows deleted first), and reads answer from the orders
-- until it has.
DELETE FROM rollup_watermark;
