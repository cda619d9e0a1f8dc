-- Every day's order lines as columnar blocks (src/storage/line-blocks.ts), for the answers that need every
-- line of a range (every product's sales): 365 blocks for a year instead of ~3M joined rows. Kept by the
-- rollup builder with the day's other pre-aggregates, so a block holds what the day's rollup rows hold: the
-- day's orders up to the watermark while none of its hours is dirty. A rebuilt day is one block (part 0);
-- new orders folded in as deltas are appended as further parts, compacted into one past a few. A read takes
-- the blocks of the range's clean whole days and reads the orders of the rest (dirty or partial days, and
-- orders past the watermark). A rowid table: the blocks are large, and the key index stays small.
CREATE TABLE order_line_blocks (
  day     INTEGER NOT NULL,   -- epoch day
  part    INTEGER NOT NULL,   -- 0 from the day's rebuild; 1, 2, ... deltas appended since
  orders  INTEGER NOT NULL,
  lines   INTEGER NOT NULL,
  block   BLOB    NOT NULL,
  UNIQUE (day, part)
);
-- days aggregated before get their blocks by a rebuild (read from the orders meanwhile)
INSERT OR IGNORE INTO rollup_dirty_hours (hour) SELECT DISTINCT hour FROM rollup_hourly;
