import { join } from 'node:path';
import type { Database } from 'better-sqlite3';
import type { CursorPosition } from '../domain/cursor.js';
import {
  type ExportCompression,
  type ExportFormat,
  type ExportSpec,
  type ExportState,
  exportFileName,
} from '../domain/export.js';

/** Where a tenant's export files live: one directory per tenant under the data dir. */
export function exportFilePath(
  dataDir: string,
  tenantId: number,
  exportId: string,
  format: ExportFormat,
  compression: ExportCompression,
): string {
  return join(dataDir, 'exports', String(tenantId), exportFileName(exportId, format, compression));
}

export interface ExportRow {
  export_id: string;
  state: ExportState;
  format: ExportFormat;
  compression: ExportCompression;
  request: string;
  rows_written: number;
  bytes_written: number;
  checkpoint_key: string | null;
  size: number | null;
  sha256: string | null;
  error: string | null;
  created_at: number;
  finished_at: number | null;
  expires_at: number | null;
  attempts: number;
  resumed_from_rows: number | null;
}

export interface Checkpoint {
  rows: number;
  bytes: number;
  position: CursorPosition | null;
}

/** The exports table of one shard: job state, checkpoints and the row group metadata of Parquet jobs. */
export class ExportStore {
  constructor(private readonly db: Database) {}

  /** created_at is unique per shard (a burst gets consecutive milliseconds), so it alone orders the list. */
  insert(exportId: string, spec: ExportSpec, now: number): ExportRow {
    this.db
      .prepare(
        `INSERT INTO exports (export_id, state, format, compression, request, created_at)
         SELECT ?, 'queued', ?, ?, ?, max(?, coalesce(max(created_at) + 1, 0)) FROM exports`,
      )
      .run(exportId, spec.format, spec.compression, JSON.stringify(spec), now);
    return this.get(exportId)!;
  }

  /** Jobs queued or running, and the bytes of finished files still kept (the tenant's export quotas). */
  usage(): { active: number; bytesKept: number } {
    return this.db
      .prepare(
        `SELECT count(*) FILTER (WHERE state IN ('queued', 'running')) AS active,
           coalesce(sum(size) FILTER (WHERE state = 'complete'), 0) AS bytesKept
         FROM exports`,
      )
      .get() as { active: number; bytesKept: number };
  }

  get(exportId: string): ExportRow | undefined {
    return this.db.prepare('SELECT * FROM exports WHERE export_id = ?').get(exportId) as
      | ExportRow
      | undefined;
  }

  /** Newest first, keyset-paginated on created_at (unique per shard). */
  list(beforeCreatedAt: number | null, limit: number): ExportRow[] {
    return this.db
      .prepare('SELECT * FROM exports WHERE created_at < ? ORDER BY created_at DESC LIMIT ?')
      .all(beforeCreatedAt ?? Number.MAX_SAFE_INTEGER, limit) as ExportRow[];
  }

  unfinished(): ExportRow[] {
    return this.db
      .prepare("SELECT * FROM exports WHERE state IN ('queued', 'running') ORDER BY created_at")
      .all() as ExportRow[];
  }

  /** Starts an attempt: counts it and notes how many rows were already durable (0 for a fresh job). */
  begin(exportId: string): void {
    this.db
      .prepare(
        `UPDATE exports SET state = 'running', attempts = attempts + 1, resumed_from_rows = rows_written
         WHERE export_id = ?`,
      )
      .run(exportId);
  }

  checkpointOf(row: ExportRow): Checkpoint {
    return {
      rows: row.rows_written,
      bytes: row.bytes_written,
      position: row.checkpoint_key ? (JSON.parse(row.checkpoint_key) as CursorPosition) : null,
    };
  }

  /** Records a checkpoint and the row groups it completed, in one transaction. */
  checkpoint(
    exportId: string,
    at: Checkpoint,
    rowGroups: readonly { rows: number; meta: Uint8Array }[],
  ): void {
    const update = this.db.prepare(
      'UPDATE exports SET rows_written = ?, bytes_written = ?, checkpoint_key = ? WHERE export_id = ?',
    );
    const insertGroup = this.db.prepare(
      `INSERT INTO export_row_groups (export_id, ordinal, rows, meta)
       VALUES (?, (SELECT count(*) FROM export_row_groups WHERE export_id = ?), ?, ?)`,
    );
    this.db.transaction(() => {
      update.run(at.rows, at.bytes, at.position ? JSON.stringify(at.position) : null, exportId);
      for (const g of rowGroups) insertGroup.run(exportId, exportId, g.rows, g.meta);
    })();
  }

  rowGroups(exportId: string): Uint8Array[] {
    return (
      this.db
        .prepare('SELECT meta FROM export_row_groups WHERE export_id = ? ORDER BY ordinal')
        .all(exportId) as { meta: Uint8Array }[]
    ).map((r) => r.meta);
  }

  complete(exportId: string, size: number, sha256: string, now: number, retentionMs: number): void {
    this.db.transaction(() => {
      this.db
        .prepare(
          `UPDATE exports SET state = 'complete', size = ?, sha256 = ?, bytes_written = ?, finished_at = ?,
           expires_at = ? WHERE export_id = ?`,
        )
        .run(size, sha256, size, now, now + retentionMs, exportId);
      this.db.prepare('DELETE FROM export_row_groups WHERE export_id = ?').run(exportId);
    })();
  }

  fail(exportId: string, error: string, now: number): void {
    this.db
      .prepare("UPDATE exports SET state = 'failed', error = ?, finished_at = ? WHERE export_id = ?")
      .run(error, now, exportId);
    this.db.prepare('DELETE FROM export_row_groups WHERE export_id = ?').run(exportId);
  }

  /** Complete exports past their retention, marked expired; the caller removes their files. */
  expireDue(now: number): ExportRow[] {
    return this.db.transaction(() => {
      const due = this.db
        .prepare("SELECT * FROM exports WHERE state = 'complete' AND expires_at <= ?")
        .all(now) as ExportRow[];
      const mark = this.db.prepare("UPDATE exports SET state = 'expired' WHERE export_id = ?");
      for (const row of due) mark.run(row.export_id);
      return due;
    })();
  }

  specOf(row: ExportRow): ExportSpec {
    return JSON.parse(row.request) as ExportSpec;
  }

  /** Complete exports whose files hold customer columns (the ones an erasure must report). */
  completeWithCustomerColumns(): ExportRow[] {
    return (this.db.prepare("SELECT * FROM exports WHERE state = 'complete'").all() as ExportRow[]).filter(
      (row) => this.specOf(row).fields.some((f) => f.startsWith('customer_')),
    );
  }
}
