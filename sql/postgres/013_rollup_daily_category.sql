-- Sales pre-aggregates by category on PostgreSQL (issue 17): `rollup_daily_category` (created by 001 and
-- unused until now) gets one row per tenant, day, status and category, kept by the same refresher as
-- `rollup_daily` and from the same pending writes. A row's orders are those holding a line of the
-- category, its units and revenue those lines' own (quantity, quantity × unit price), its order value
-- and t-digest their orders' totals, its HyperLogLog their customers: the definitions of the exact answer
-- (src/storage/postgres/sales.ts). Products never change category, so a line's category is known once it
-- is written. Every tenant's pre-aggregates are built again from its orders, the category rows with them:
-- the refresher builds a tenant with no watermark whole, and reads answer from the orders until it has.
DELETE FROM rollup_watermark;
