-- The foreign keys orders -> customers and order_items -> orders go (issue 17). The one writer of those
-- tables (src/storage/postgres/order-writer.ts) resolves an order's customer and its items' order key in
-- the same transaction and statement that insert them, as SQLite's writer does with foreign_keys OFF; the
-- checks cost 27% of the writer's time (perf/ingest-postgres: 19.9k orders/s with them, 25.8k without,
-- the per-row RI triggers 135 of a batch statement's 366 ms) and would have to be co-located under Citus.
ALTER TABLE orders DROP CONSTRAINT orders_tenant_id_customer_pk_fkey;
ALTER TABLE order_items DROP CONSTRAINT order_items_tenant_id_order_pk_fkey;
