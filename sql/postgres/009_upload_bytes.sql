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
