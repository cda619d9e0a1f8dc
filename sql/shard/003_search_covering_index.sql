-- The keyset scan (created_at desc, order_pk desc) also filters status and totals: carrying both in the
-- index means filtering never touches the table. With status served here, the (status, created_at)
-- index only ever led the planner to gather-then-sort plans (5.7 s for status=paid,shipped on 1M
-- orders, see docs/explain.md), so it goes, and ingest maintains one index fewer.
DROP INDEX orders_status_created;
DROP INDEX orders_created;
CREATE INDEX orders_created ON orders (created_at, order_pk, status, total_cents);
