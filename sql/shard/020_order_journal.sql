-- Every order as it was written, in columnar blocks (src/storage/order-journal.ts): the write transaction
-- that inserts orders appends their block (or grows the newest one while it is small), from the rows it has
-- in memory. The day line blocks (018) hold only what the rollup builder has folded in; the journal holds
-- every committed order at once, so the exact scans read it instead of handing the orders table's rows to
-- JavaScript one at a time (~1.5 µs per order), whatever the rollups still have to rebuild. A block: the
-- line-block encoding of its orders and lines (`block`) and their created_at as f64 (`created`), one per
-- order in the block's order. Blocks never overlap: keyed by their first order_pk, ending at `last_pk`.
CREATE TABLE order_journal (
  first_pk INTEGER PRIMARY KEY,
  last_pk  INTEGER NOT NULL,
  orders   INTEGER NOT NULL,
  lines    INTEGER NOT NULL,
  created  BLOB    NOT NULL,
  block    BLOB    NOT NULL
);
-- The journal holds every order from `from_pk` on: orders written before this migration are read from the
-- tables (or journalled again by `tenant rebuild-journal`).
CREATE TABLE order_journal_start (
  id      INTEGER PRIMARY KEY CHECK (id = 1),
  from_pk INTEGER NOT NULL
);
INSERT INTO order_journal_start (id, from_pk) SELECT 1, coalesce(max(order_pk), 0) + 1 FROM orders;
