-- Sales pre-aggregates on PostgreSQL (issue 17): the daily rows of `rollup_daily` (sums exact, distinct
-- customers in a HyperLogLog and order values in a t-digest, as bytea built and merged by our code) are
-- maintained by a background refresher, not by the reader. Every write transaction that inserts orders
-- appends one row here naming the days it touched: a new row per transaction, never an update of a shared
-- one, so writers of one tenant never wait on each other for it. The refresher deletes the rows it takes
-- and adds their orders to the daily rows in the same transaction (sums, HyperLogLog and t-digest all take
-- new orders without a rebuild, and orders are never changed afterwards); a read over a day still named
-- here answers from the orders instead (src/storage/postgres/rollups.ts). `rollup_watermark` holds a row once a
-- tenant's pre-aggregates were first built (tenants that had orders before this migration get theirs built
-- by the refresher, and are read from the orders until then).
CREATE TABLE rollup_pending (
  tenant_id  integer   NOT NULL,
  seq        bigserial NOT NULL,
  days       integer[] NOT NULL,   -- epoch days
  order_pks  bigint[]  NOT NULL,   -- the orders the transaction inserted
  written_at timestamptz NOT NULL DEFAULT now(),   -- the writer's transaction began (the refresher waits for quiet)
  PRIMARY KEY (tenant_id, seq)
) PARTITION BY LIST (tenant_id);
