-- Which server process holds an in_flight key. A record held by a process that is gone (another boot id)
-- is stale and may be taken over, so a crash never leaves a key stuck in 409.
ALTER TABLE idempotency_keys ADD COLUMN owner TEXT;
