import { join } from 'node:path';
import type { Database } from 'better-sqlite3';
import type { ChunkSummary } from '../domain/ingest-kinds.js';
import type { RowError } from '../domain/order-schema.js';
import { type Quoted, type UploadQuota, uploadOverQuota } from '../domain/quota.js';

export type UploadState = 'receiving' | 'processing' | 'complete' | 'failed' | 'terminated';

export interface UploadRow {
  upload_id: string;
  upload_length: number | null;
  received_offset: number;
  processed_offset: number;
  metadata: string;
  state: UploadState;
  rows_received: number;
  rows_inserted: number;
  rows_duplicate: number;
  rows_failed: number;
  lines_seen: number;
  error: string | null;
  created_at: number;
  updated_at: number;
  expires_at: number;
}

/** The staging file of an upload: the bytes exactly as received (compressed, if they were). */
export function stagingPath(dataDir: string, tenantId: number, uploadId: string): string {
  return join(dataDir, 'uploads', String(tenantId), `${uploadId}.bin`);
}

/** An upload to create: what its creation declared, when, its life without bytes, the tenant's quotas. */
export interface NewUpload {
  uploadId: string;
  /** null: deferred (Upload-Defer-Length) */
  length: number | null;
  metadata: Record<string, string>;
  now: number;
  ttlMs: number;
  limits: { uploads: number; bytes: number };
}

/** An unfinished upload found for resumption, with its tenant. */
export interface UnfinishedUpload {
  tenantId: number;
  row: UploadRow;
}

/** Processing progress committed with the rows it covers. */
export interface UploadCursor {
  /** Offset (in the decompressed stream) just after the last line processed. */
  processedOffset: number;
  linesSeen: number;
}

/** What a chunk moves on the upload's row, in the order both stores' UPDATE statements name the columns. */
export function advanceValues(cursor: UploadCursor, part: ChunkSummary): number[] {
  return [
    cursor.processedOffset,
    cursor.linesSeen,
    part.received,
    part.inserted,
    part.duplicate,
    part.failed,
  ];
}

/** An upload_errors row as the summary's error (absent fields left out, as the ingest summary has them). */
export interface StoredRowError {
  line: number;
  order_id: string | null;
  code: string;
  field: string | null;
  message: string;
}

export function rowErrorOf(e: StoredRowError): RowError {
  return {
    line: e.line,
    ...(e.order_id !== null ? { order_id: e.order_id } : {}),
    code: e.code,
    ...(e.field !== null ? { field: e.field } : {}),
    message: e.message,
  };
}

/** The uploads and upload_errors tables of one shard. */
export class UploadStore {
  constructor(private readonly db: Database) {}

  /** Creates the upload unless the tenant is at a quota (the caller holds the shard's write lock). */
  create(upload: NewUpload): Quoted<UploadRow, UploadQuota> {
    const over = uploadOverQuota(this.usage(), upload.limits, upload.length);
    if (over) return { ok: false, ...over };
    const { uploadId, length, metadata, now, ttlMs } = upload;
    this.db
      .prepare(
        `INSERT INTO uploads (upload_id, upload_length, metadata, state, created_at, updated_at, expires_at)
         VALUES (?, ?, ?, 'receiving', ?, ?, ?)`,
      )
      .run(uploadId, length, JSON.stringify(metadata), now, now, now + ttlMs);
    return { ok: true, value: this.get(uploadId)! };
  }

  /** Uploads still open (receiving or processing) and the bytes they declared (or hold, when deferred). */
  private usage(): { open: number; declaredBytes: number } {
    return this.db
      .prepare(
        `SELECT count(*) AS open, coalesce(sum(coalesce(upload_length, received_offset)), 0) AS declaredBytes
         FROM uploads WHERE state IN ('receiving', 'processing')`,
      )
      .get() as { open: number; declaredBytes: number };
  }

  get(uploadId: string): UploadRow | undefined {
    return this.db.prepare('SELECT * FROM uploads WHERE upload_id = ?').get(uploadId) as
      | UploadRow
      | undefined;
  }

  /** Records durable received bytes (and the length, when it was deferred); all bytes in -> processing. */
  received(uploadId: string, offset: number, length: number | null, now: number, ttlMs: number): UploadRow {
    this.db
      .prepare(
        `UPDATE uploads SET received_offset = ?, upload_length = coalesce(upload_length, ?), updated_at = ?,
           expires_at = ?,
           state = CASE WHEN state = 'receiving' AND coalesce(upload_length, ?) = ? THEN 'processing' ELSE state END
         WHERE upload_id = ?`,
      )
      .run(offset, length, now, now + ttlMs, length, offset, uploadId);
    return this.get(uploadId)!;
  }

  /** Advances the cursor and counters, and keeps every row error; runs inside the rows' transaction. */
  advance(uploadId: string, cursor: UploadCursor, part: ChunkSummary, now: number): void {
    this.db
      .prepare(
        `UPDATE uploads SET processed_offset = ?, lines_seen = ?, rows_received = rows_received + ?,
           rows_inserted = rows_inserted + ?, rows_duplicate = rows_duplicate + ?, rows_failed = rows_failed + ?,
           updated_at = ?
         WHERE upload_id = ?`,
      )
      .run(...advanceValues(cursor, part), now, uploadId);
    const insert = this.db.prepare(
      `INSERT OR IGNORE INTO upload_errors (upload_id, line, order_id, code, field, message)
       VALUES (?, ?, ?, ?, ?, ?)`,
    );
    for (const e of part.errors)
      insert.run(uploadId, e.line, e.order_id ?? null, e.code, e.field ?? null, e.message);
  }

  finish(
    uploadId: string,
    state: 'complete' | 'failed' | 'terminated',
    error: string | null,
    now: number,
  ): void {
    this.db
      .prepare('UPDATE uploads SET state = ?, error = ?, updated_at = ? WHERE upload_id = ?')
      .run(state, error, now, uploadId);
  }

  errors(uploadId: string, limit: number): RowError[] {
    return (
      this.db
        .prepare(
          'SELECT line, order_id, code, field, message FROM upload_errors WHERE upload_id = ? ORDER BY line, code LIMIT ?',
        )
        .all(uploadId, limit) as StoredRowError[]
    ).map(rowErrorOf);
  }

  unfinished(): UploadRow[] {
    return this.db
      .prepare("SELECT * FROM uploads WHERE state IN ('receiving', 'processing') ORDER BY created_at")
      .all() as UploadRow[];
  }

  /** Uploads still receiving whose client went quiet past the expiry: terminated. */
  expireDue(now: number): UploadRow[] {
    return this.db.transaction(() => {
      const due = this.db
        .prepare("SELECT * FROM uploads WHERE state = 'receiving' AND expires_at <= ?")
        .all(now) as UploadRow[];
      for (const row of due) this.finish(row.upload_id, 'terminated', 'expired', now);
      return due;
    })();
  }
}
