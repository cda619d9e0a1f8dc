-- Columnar line blocks on PostgreSQL (issue 17), the pre-aggregate of rankings by product: a day's order
-- lines as one block in the layout of SQLite's `order_line_blocks` (src/storage/line-blocks.ts: each order's
-- total, id, customer and status, each line's product, quantity and unit price, as typed-array columns),
-- so a ranking reads a few hundred blocks instead of joining every order of the range to its lines, and
-- accumulates them with the same code as SQLite. A day may have several blocks (`seq`): the refresher
-- appends one per day a refresh touches (orders never change once written), and compacts a day's blocks
-- into one once they are many. PostgreSQL encodes the columns (`float8send`, `string_agg`) and our code lays
-- them out (src/storage/postgres/line-blocks.ts). Stored uncompressed (EXTERNAL): typed arrays gain little
-- from pglz, and every ranking would pay for decompressing them.
CREATE TABLE rollup_line_blocks (
  tenant_id integer NOT NULL,
  day       integer NOT NULL,   -- epoch day
  seq       integer NOT NULL,   -- the day's blocks in the order written
  orders    integer NOT NULL,
  lines     integer NOT NULL,
  block     bytea   NOT NULL,
  PRIMARY KEY (tenant_id, day, seq)
) PARTITION BY LIST (tenant_id);
ALTER TABLE rollup_line_blocks ALTER COLUMN block SET STORAGE EXTERNAL;

-- Every tenant's pre-aggregates are built again from its orders, the line blocks with them: the refresher
-- builds a tenant with no watermark whole, and reads answer from the orders until it has.
DELETE FROM rollup_watermark;
