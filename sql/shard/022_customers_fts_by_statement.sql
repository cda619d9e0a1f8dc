-- New customers enter the full-text index by one statement per write (src/storage/customer-resolver.ts)
-- instead of a trigger per row: the trigger's FTS5 insert per customer cost ~15 µs, one
-- INSERT … SELECT of the batch's new customers ~1.5 µs each (docs/perf.md, "The customers' full-text
-- index"). Updates and deletes keep their triggers: they are rare (a changed name, an erasure). Every
-- customer already in the table was indexed by the old trigger, so nothing is rebuilt.
DROP TRIGGER customers_fts_insert;
