-- Audit of GDPR erasures: which customer (internal id only), when, by which request. No PII here.
CREATE TABLE customer_erasures (
  erasure_id   INTEGER PRIMARY KEY,
  customer_pk  INTEGER NOT NULL,
  erased_at    INTEGER NOT NULL,
  request_id   TEXT    NOT NULL,
  matched_by   TEXT    NOT NULL CHECK (matched_by IN ('customer_id', 'email')),
  purged_idempotency_responses INTEGER NOT NULL,
  purged_upload_errors         INTEGER NOT NULL
);
