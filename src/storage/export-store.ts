import { join } from 'node:path';
import type { Database } from 'better-sqlite3';
import type { OrderPosition } from '../domain/cursor.js';
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

/**
 * Where one part of an export job is written: part 0 at the file's own path (the others are appended to
 * it when the job finishes), part k beside it.
 */
export function exportPartPath(dataDir: string, tenantId: number, row: ExportRow, part: number): string {
  const path = exportFilePath(dataDir, tenantId, row.export_id, row.format, row.compression);
  return part === 0 ? path : `${path}.part${part}`;
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
  position: OrderPosition | null;
}

/** One part of a job: its checkpoint (rows and bytes of its own file) and the position it ends at. */
export interface ExportPart {
  part: number;
  at: Checkpoint;
  floor: OrderPosition | null;
  done: boolean;
}

/** An export_parts row as either backend reads it (`done`: 0/1 on SQLite, a boolean on PostgreSQL). */
export interface PartRow {
  part: number;
  floor_key: string | null;
  checkpoint_key: string | null;
  rows_written: number;
  bytes_written: number;
  done: number | boolean;
}

/** A stored keyset position (JSON), or null. */
export const positionOf = (key: string | null) => (key ? (JSON.parse(key) as OrderPosition) : null);

/** A keyset position as stored (JSON), or null. */
export const positionKey = (p: OrderPosition | null | undefined) => (p ? JSON.stringify(p) : null);

export function partOf(row: PartRow): ExportPart {
  return {
    part: row.part,
    at: { rows: row.rows_written, bytes: row.bytes_written, position: positionOf(row.checkpoint_key) },
    floor: positionOf(row.floor_key),
    done: row.done === 1 || row.done === true,
  };
}

/** What a job was asked for. */
export function specOf(row: ExportRow): ExportSpec {
  return JSON.parse(row.request) as ExportSpec;
}

/** The exports among `rows` whose files hold customer columns (the ones an erasure must report). */
export function withCustomerColumns(rows: readonly ExportRow[]): ExportRow[] {
  return rows.filter((row) => specOf(row).fields.some((f) => f.startsWith('customer_')));
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

  /** The job's parts, in order (none before it is planned). */
  parts(exportId: string): ExportPart[] {
    return (
      this.db
        .prepare('SELECT * FROM export_parts WHERE export_id = ? ORDER BY part')
        .all(exportId) as PartRow[]
    ).map(partOf);
  }

  /**
   * Cuts a job into parts at the given positions (each the last row of a part; the last part runs to the
   * oldest row): part k starts after cut k-1 and ends at cut k.
   */
  plan(exportId: string, cuts: readonly OrderPosition[]): void {
    const insert = this.db.prepare(
      'INSERT INTO export_parts (export_id, part, checkpoint_key, floor_key) VALUES (?, ?, ?, ?)',
    );
    this.db.transaction(() => {
      for (let k = 0; k <= cuts.length; k++)
        insert.run(exportId, k, positionKey(cuts[k - 1]), positionKey(cuts[k]));
    })();
  }

  /**
   * Records a part's checkpoint and the row groups it completed, in one transaction, and adds the rows and
   * bytes to the job's totals (what its status shows).
   */
  checkpoint(
    exportId: string,
    part: number,
    at: Checkpoint,
    added: { rows: number; bytes: number },
    rowGroups: readonly { rows: number; meta: Uint8Array }[],
  ): void {
    const updatePart = this.db.prepare(
      `UPDATE export_parts SET rows_written = ?, bytes_written = ?, checkpoint_key = ?
       WHERE export_id = ? AND part = ?`,
    );
    const updateJob = this.db.prepare(
      'UPDATE exports SET rows_written = rows_written + ?, bytes_written = bytes_written + ? WHERE export_id = ?',
    );
    const insertGroup = this.db.prepare(
      `INSERT INTO export_row_groups (export_id, part, ordinal, rows, meta)
       VALUES (?, ?, (SELECT count(*) FROM export_row_groups WHERE export_id = ? AND part = ?), ?, ?)`,
    );
    this.db.transaction(() => {
      updatePart.run(at.rows, at.bytes, positionKey(at.position), exportId, part);
      updateJob.run(added.rows, added.bytes, exportId);
      for (const g of rowGroups) insertGroup.run(exportId, part, exportId, part, g.rows, g.meta);
    })();
  }

  partDone(exportId: string, part: number): void {
    this.db.prepare('UPDATE export_parts SET done = 1 WHERE export_id = ? AND part = ?').run(exportId, part);
  }

  /** A part's row groups in order, offsets relative to the part's own file. */
  rowGroups(exportId: string, part: number): Uint8Array[] {
    return (
      this.db
        .prepare('SELECT meta FROM export_row_groups WHERE export_id = ? AND part = ? ORDER BY ordinal')
        .all(exportId, part) as { meta: Uint8Array }[]
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
      this.forgetParts(exportId);
    })();
  }

  fail(exportId: string, error: string, now: number): void {
    this.db.transaction(() => {
      this.db
        .prepare("UPDATE exports SET state = 'failed', error = ?, finished_at = ? WHERE export_id = ?")
        .run(error, now, exportId);
      this.forgetParts(exportId);
    })();
  }

  private forgetParts(exportId: string): void {
    this.db.prepare('DELETE FROM export_row_groups WHERE export_id = ?').run(exportId);
    this.db.prepare('DELETE FROM export_parts WHERE export_id = ?').run(exportId);
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

  /** Complete exports whose files hold customer columns (the ones an erasure must report). */
  completeWithCustomerColumns(): ExportRow[] {
    return withCustomerColumns(
      this.db.prepare("SELECT * FROM exports WHERE state = 'complete'").all() as ExportRow[],
    );
  }
}
