-- Customer search splits names and emails into words at every character that is not a letter or a digit,
-- as SQLite's FTS5 unicode61 tokenizer does (issue 17): PostgreSQL's parser keeps 'ada@example.com' as one
-- email token, so a search for "example" found it on SQLite and not here.
DROP INDEX customers_search;
ALTER TABLE customers DROP COLUMN search;
ALTER TABLE customers ADD COLUMN search tsvector
  GENERATED ALWAYS AS (to_tsvector('simple', regexp_replace(name || ' ' || email, '[^[:alnum:]]+', ' ', 'g'))) STORED;
CREATE INDEX customers_search ON customers USING gin (search);
