-- Product rankings are answered from the orders' lines (SQLite: src/sales/product-scan.ts over the line
-- blocks; PostgreSQL: src/storage/postgres/sales.ts), never from per-product rollups: SQLite's shard schema
-- dropped them in its migration 019, and PostgreSQL never wrote a row into these. Each tenant's partitions
-- go with their parent table.
DROP TABLE rollup_daily_product_sketch;
DROP TABLE rollup_daily_product;
