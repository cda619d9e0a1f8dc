-- Uploads on PostgreSQL (issue 17). A tus upload's bytes live in the database, not in a staging file on
-- one server's disk, so a client behind a load balancer may send each PATCH to any server: every piece of a
-- PATCH body is one row, inserted in the transaction that moves `uploads.received_offset` past it, so the
-- offset HEAD reports and the bytes it covers are durable together (no file to cut back after a crash).
-- Pieces are deleted when the upload is complete, failed, terminated or expired.
CREATE TABLE upload_bytes (
  tenant_id     integer NOT NULL,
  upload_id     text    NOT NULL,
  start_offset  bigint  NOT NULL,   -- where the piece begins in the upload
  bytes         bytea   NOT NULL,
  PRIMARY KEY (tenant_id, upload_id, start_offset)
) PARTITION BY LIST (tenant_id);

-- The server process (server_boots.boot_id) processing the upload: one at a time, whichever server
-- received it. A processor whose heartbeat stopped is replaced by the next server that picks the upload up.
ALTER TABLE uploads ADD COLUMN processor_boot text;

-- The pieces are compressed with lz4 where the server has it (PostgreSQL 14 and later, built with lz4, as
-- Debian's is): NDJSON shrinks about as much as with the default pglz, at a fraction of its CPU, which the
-- database takes from the same cores as the writers (docs/postgres.md, uploads).
DO $$
BEGIN
  ALTER TABLE upload_bytes ALTER COLUMN bytes SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
  NULL; -- a server without lz4 keeps pglz
END $$;
