-- The server processes running on this database (issue 17), each with a heartbeat. An in-flight
-- idempotency key held by a process whose heartbeat stopped is taken over by the next request with that
-- key; one held by a live process, on this server or another, answers 409 (SQLite has one process per data
-- directory, so any other boot there is a dead one). Global: not per tenant.
CREATE TABLE server_boots (
  boot_id       text        PRIMARY KEY,
  started_at    timestamptz NOT NULL DEFAULT now(),
  heartbeat_at  timestamptz NOT NULL DEFAULT now()
);
