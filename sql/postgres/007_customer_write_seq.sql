-- Several writers may load one tenant at once on PostgreSQL (--postgres-writers-per-tenant): their
-- transactions can commit out of the order their rows arrived in. A customer's name and email are those of
-- its latest line; `written_seq` is the arrival sequence of the line that set them (src/storage/write-seq.ts),
-- and a write from an earlier line never replaces a later one's.
ALTER TABLE customers ADD COLUMN written_seq bigint NOT NULL DEFAULT 0;
