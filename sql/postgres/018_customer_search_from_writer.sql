-- The customers' full-text column written by the writer instead of generated (issue 17). Generated, it ran
-- NFD normalisation and two regular expressions inside PostgreSQL for every customer inserted or updated:
-- ~7 µs a row, a third of the customers upsert on the two cores PostgreSQL shares with the service. The
-- writer now sends the same words (combining marks dropped, every run of characters that are neither letters
-- nor digits one space: customerSearchText in src/storage/postgres/search-sql.ts) and the upsert stores
-- to_tsvector('simple', …) of them; the rows stored before keep the vectors they have, which are the same.
-- An erasure writes the vector of the tokens it stores (src/storage/postgres/erasure.ts).
ALTER TABLE customers ALTER COLUMN search DROP EXPRESSION;
