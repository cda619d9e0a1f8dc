-- Export jobs on PostgreSQL (issue 17). An export's file lives in the database, not on one server's disk,
-- so any server behind a load balancer serves its download and any server can finish a job another began.
-- Each checkpointed batch is one or more pieces, inserted in the transaction that moves the part's
-- checkpoint past them: the bytes a checkpoint covers and the checkpoint are durable together (nothing to
-- cut back after a crash, no fsync of our own). While the job runs a piece is keyed by its part and its
-- offset in that part; when the job completes every piece is renumbered to part 0 at its offset in the
-- whole file (the parts' sizes are known only then), the closing bytes (Parquet's footer) as the last piece.
-- Pieces are deleted when the export fails, expires or its tenant is deleted.
CREATE TABLE export_bytes (
  tenant_id     integer NOT NULL,
  export_id     text    NOT NULL,
  part          integer NOT NULL,
  start_offset  bigint  NOT NULL,   -- where the piece begins in its part (in the file, once complete)
  bytes         bytea   NOT NULL,
  PRIMARY KEY (tenant_id, export_id, part, start_offset)
) PARTITION BY LIST (tenant_id);

-- The server process (server_boots.boot_id) running the job: the one that created it, until its heartbeat
-- stops; then the next server that looks for orphaned jobs takes it over and resumes it from its checkpoints.
ALTER TABLE exports ADD COLUMN processor_boot text;

-- CSV compresses well and cheaply with lz4 (where the server has it); Parquet's compressed columns are
-- stored as they are (PostgreSQL keeps a value uncompressed when compressing it does not pay).
DO $$
BEGIN
  ALTER TABLE export_bytes ALTER COLUMN bytes SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
  NULL; -- a server without lz4 keeps pglz
END $$;
