-- Invalidation for the hourly pre-aggregates: every write that changes an hour's orders records the
-- hour here (same transaction); a read rebuilds the dirty hours it needs before answering. Orders
-- loaded before this migration make their hours dirty now.
CREATE TABLE rollup_dirty_hours (
  hour INTEGER PRIMARY KEY   -- epoch hour
);
INSERT OR IGNORE INTO rollup_dirty_hours (hour) SELECT DISTINCT created_at / 3600000 FROM orders;

-- Sum of the order totals of orders holding the product (for the average order value per product).
ALTER TABLE rollup_daily_product ADD COLUMN order_value_cents INTEGER NOT NULL DEFAULT 0;
