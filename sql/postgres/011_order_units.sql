-- Sales metrics by time on PostgreSQL (issue 17) read the orders alone: an order's units (the sum of its
-- lines' quantities) are kept on the order as it is written, so a year by day is one scan of the orders
-- instead of a join with every line of the range (docs/postgres.md, sales metrics).
ALTER TABLE orders ADD COLUMN units integer;
UPDATE orders o SET units = coalesce(
  (SELECT sum(i.quantity) FROM order_items i WHERE i.tenant_id = o.tenant_id AND i.order_pk = o.order_pk), 0);
ALTER TABLE orders ALTER COLUMN units SET NOT NULL;
