-- Each order journal block holds orders of one month of created_at (UTC; epoch months, as the month-level
-- pre-aggregates key them), written so since this migration: a read by time reads the blocks of its range's
-- months only (src/storage/order-journal.ts). Blocks from before hold several months (month NULL): read for
-- any range until the start-up backfill rewrites them, a month each. Blocks of different months may span
-- overlapping order_pk ranges; within a month they do not.
ALTER TABLE order_journal ADD COLUMN month INTEGER;
CREATE INDEX order_journal_by_month ON order_journal (month, first_pk);
