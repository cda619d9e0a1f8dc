-- Token buckets shared by every server on this database (issue 17): two servers behind one load balancer
-- enforce one budget per product and per tenant for the price webhook. Keys name their tenant; one row per
-- key, updated in place by one statement per take (src/storage/postgres/rate-buckets.ts).
CREATE TABLE rate_buckets (
  key           text             PRIMARY KEY,
  tokens        double precision NOT NULL,
  at            timestamptz      NOT NULL,
  last_allowed  boolean          NOT NULL
);
