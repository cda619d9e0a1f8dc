-- Pre-aggregates are maintained as orders arrive instead of rebuilt by readers. Orders are insert-only and
-- every new order_pk lies past the existing ones, so one number says what the rollups hold: every order
-- with order_pk <= this watermark, except in the hours listed in rollup_dirty_hours (rebuilt from the
-- orders up to the watermark). Orders past it are pending: a small batch is folded into the rollups as
-- deltas, a large one (a bulk load) marks its hours dirty; either way the watermark then moves past it.
-- Ingest no longer marks hours dirty itself.
CREATE TABLE rollup_watermark (
  id        INTEGER PRIMARY KEY CHECK (id = 1),
  order_pk  INTEGER NOT NULL
);
-- everything ingested so far was marked dirty by the old write path: it is covered
INSERT INTO rollup_watermark (id, order_pk) SELECT 1, coalesce(max(order_pk), 0) FROM orders;
