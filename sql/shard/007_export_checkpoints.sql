-- Export checkpoints. A checkpoint is (checkpoint_key, rows_written, bytes_written) on the exports row,
-- committed after the file is fsynced to bytes_written. Parquet exports also keep the metadata of each
-- finished row group here, in the same transaction, so a resumed job writes one footer for all of them.
ALTER TABLE exports ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE exports ADD COLUMN resumed_from_rows INTEGER;  -- rows already durable when the last attempt began

CREATE TABLE export_row_groups (
  export_id  TEXT    NOT NULL,
  ordinal    INTEGER NOT NULL,
  rows       INTEGER NOT NULL,
  meta       BLOB    NOT NULL,   -- Thrift RowGroup, offsets already relative to the final file
  PRIMARY KEY (export_id, ordinal)
) WITHOUT ROWID;

CREATE UNIQUE INDEX exports_by_created ON exports (created_at);
