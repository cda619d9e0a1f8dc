-- A month level of the sales pre-aggregates by category on PostgreSQL (issue 17), as SQLite's shards keep
-- (sql/shard/016): one row per tenant, epoch month ((year - 1970) * 12 + month - 1), status and category,
-- with the same measures and definitions as `rollup_daily_category` (sql/postgres/013), kept by the same
-- refresher from the same pending writes and the same facts. A year by category over whole days reads
-- its whole months here (12 rows per status and category instead of 365) and the days around them from
-- the daily rows. Every tenant's pre-aggregates are built again from its orders, the months with them:
-- the refresher builds a tenant with no watermark whole, and reads answer from the orders until it has.
CREATE TABLE rollup_monthly_category (
  tenant_id         integer NOT NULL,
  month             bigint  NOT NULL,
  status            text    NOT NULL,
  category          text    NOT NULL,
  orders            bigint  NOT NULL,
  units             bigint  NOT NULL,
  revenue_cents     bigint  NOT NULL,
  order_value_cents bigint  NOT NULL,
  customers_hll     bytea   NOT NULL,
  values_tdigest    bytea   NOT NULL,
  PRIMARY KEY (tenant_id, month, status, category)
) PARTITION BY LIST (tenant_id);

DELETE FROM rollup_watermark;
