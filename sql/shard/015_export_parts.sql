-- Export jobs in parts: a job's rows are cut into consecutive keyset ranges, each encoded by its own
-- worker into its own file with its own checkpoint; when every part is done the files are joined in
-- order (part 0 is written at the final path, the others are appended to it) under one footer.
-- A part starts after checkpoint_key (the keyset position of the last row of the part before it, or
-- NULL for the newest row) and ends at floor_key, inclusive (NULL: the oldest row).
CREATE TABLE export_parts (
  export_id       TEXT    NOT NULL,
  part            INTEGER NOT NULL,
  floor_key       TEXT,
  checkpoint_key  TEXT,
  rows_written    INTEGER NOT NULL DEFAULT 0,
  bytes_written   INTEGER NOT NULL DEFAULT 0,   -- durable bytes of the part's own file
  done            INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (export_id, part)
) WITHOUT ROWID;

-- Row group metadata now belongs to a part (offsets relative to the part's file until the join).
DROP TABLE export_row_groups;
CREATE TABLE export_row_groups (
  export_id  TEXT    NOT NULL,
  part       INTEGER NOT NULL,
  ordinal    INTEGER NOT NULL,
  rows       INTEGER NOT NULL,
  meta       BLOB    NOT NULL,   -- Thrift RowGroup
  PRIMARY KEY (export_id, part, ordinal)
) WITHOUT ROWID;

-- A job interrupted by the upgrade itself starts over (its row groups were just dropped): it is planned
-- in parts on its next run and its old file is overwritten.
UPDATE exports SET rows_written = 0, bytes_written = 0, checkpoint_key = NULL
  WHERE state IN ('queued', 'running');
