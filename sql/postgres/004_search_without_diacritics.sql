-- Customer search ignores diacritics, as SQLite's FTS5 (remove_diacritics 2) does (issue 17): "edith"
-- finds "Édith". Names and emails are decomposed (NFD) and their combining marks dropped before they are
-- split into words; the query's words go through the same steps (src/storage/postgres/search-sql.ts).
-- normalize() is immutable, so the column stays generated; the unaccent extension would need a wrapper.
DROP INDEX customers_search;
ALTER TABLE customers DROP COLUMN search;
ALTER TABLE customers ADD COLUMN search tsvector GENERATED ALWAYS AS (
  to_tsvector('simple', regexp_replace(
    regexp_replace(normalize(name || ' ' || email, NFD), '[\u0300-\u036f]', '', 'g'),
    '[^[:alnum:]]+', ' ', 'g'))
) STORED;
CREATE INDEX customers_search ON customers USING gin (search);
