/**
 * tus uploads' state on PostgreSQL (issue 17): the same rows and answers as SQLite's `UploadStore`
 * (src/storage/upload-store.ts), shared by every server on the database. Two things SQLite's one process per
 * data directory did not need: a quota check that two servers cannot pass at once (an advisory lock per
 * tenant), and one processor per upload among the servers (`processor_boot`, taken over from a server whose
 * heartbeat stopped). The bytes themselves are in `upload_bytes` (src/storage/postgres/upload-bytes.ts).
 */
import type pg from 'pg';
import type { ChunkSummary } from '../../domain/ingest-kinds.js';
import type { RowError } from '../../domain/order-schema.js';
import { type Quoted, type UploadQuota, uploadOverQuota } from '../../domain/quota.js';
import {
  advanceValues,
  type NewUpload,
  rowErrorOf,
  type StoredRowError,
  type UnfinishedUpload,
  type UploadCursor,
  type UploadRow,
} from '../upload-store.js';
import { ALIVE_MS, processorAlive } from './boots.js';
import { epochMsOf, timestampOf } from './epoch-ms.js';
import { lockTenant } from './tenant-locks.js';
import { inTransaction } from './transaction.js';

/** An uploads row as `UploadRow` (times in ms since the epoch, counts as numbers, metadata as JSON text). */
const ROW = `upload_id, upload_length::float8 AS upload_length, received_offset::float8 AS received_offset,
  processed_offset::float8 AS processed_offset, metadata::text AS metadata, state,
  rows_received::float8 AS rows_received, rows_inserted::float8 AS rows_inserted,
  rows_duplicate::float8 AS rows_duplicate, rows_failed::float8 AS rows_failed,
  lines_seen::float8 AS lines_seen, error, ${epochMsOf('created_at')}, ${epochMsOf('updated_at')}, ${epochMsOf('expires_at')}`;

export class PgUploadStore {
  constructor(
    private readonly client: pg.ClientBase,
    private readonly tenantId: number,
  ) {}

  /** Creates an upload unless the tenant is at a quota; two servers checking at once take turns. */
  create(upload: NewUpload): Promise<Quoted<UploadRow, UploadQuota>> {
    const { uploadId, length, metadata, now, ttlMs, limits } = upload;
    return inTransaction(this.client, async () => {
      const t = this.tenantId;
      await lockTenant(this.client, 'upload_quota', t);
      const use = (
        await this.client.query<{ open: number; declaredBytes: number }>(
          `SELECT count(*)::float8 AS open,
                  coalesce(sum(coalesce(upload_length, received_offset)), 0)::float8 AS "declaredBytes"
             FROM uploads WHERE tenant_id = $1 AND state IN ('receiving', 'processing')`,
          [t],
        )
      ).rows[0]!;
      const over = uploadOverQuota(use, limits, length);
      if (over) return { ok: false, ...over };
      const { rows } = await this.client.query<UploadRow>(
        `INSERT INTO uploads (tenant_id, upload_id, upload_length, metadata, state, created_at, updated_at, expires_at)
         VALUES ($1, $2, $3, $4::jsonb, 'receiving', ${timestampOf(5)}, ${timestampOf(5)}, ${timestampOf(6)}) RETURNING ${ROW}`,
        [t, uploadId, length, JSON.stringify(metadata), now, now + ttlMs],
      );
      return { ok: true, value: rows[0]! };
    });
  }

  async get(uploadId: string, options: { lock?: boolean } = {}): Promise<UploadRow | undefined> {
    const { rows } = await this.client.query<UploadRow>(
      `SELECT ${ROW} FROM uploads WHERE tenant_id = $1 AND upload_id = $2${options.lock ? ' FOR UPDATE' : ''}`,
      [this.tenantId, uploadId],
    );
    return rows[0];
  }

  /**
   * Records the durable received bytes (the pieces' transactions already moved the offset; this sets a
   * deferred length, the expiry and the state): all bytes in -> processing.
   */
  async received(
    uploadId: string,
    offset: number,
    length: number | null,
    now: number,
    ttlMs: number,
  ): Promise<UploadRow> {
    const { rows } = await this.client.query<UploadRow>(
      `UPDATE uploads SET received_offset = greatest(received_offset, $3), upload_length = coalesce(upload_length, $4),
         updated_at = ${timestampOf(5)}, expires_at = ${timestampOf(6)},
         state = CASE WHEN state = 'receiving' AND coalesce(upload_length, $4) = greatest(received_offset, $3)
                      THEN 'processing' ELSE state END
       WHERE tenant_id = $1 AND upload_id = $2 RETURNING ${ROW}`,
      [this.tenantId, uploadId, offset, length, now, now + ttlMs],
    );
    return rows[0]!;
  }

  /** Advances the cursor and counters and keeps every row error; runs inside the rows' transaction. */
  async advance(uploadId: string, cursor: UploadCursor, part: ChunkSummary, now: number): Promise<void> {
    const t = this.tenantId;
    await this.client.query(
      `UPDATE uploads SET processed_offset = $3, lines_seen = $4, rows_received = rows_received + $5,
         rows_inserted = rows_inserted + $6, rows_duplicate = rows_duplicate + $7, rows_failed = rows_failed + $8,
         updated_at = ${timestampOf(9)}
       WHERE tenant_id = $1 AND upload_id = $2`,
      [t, uploadId, ...advanceValues(cursor, part), now],
    );
    if (part.errors.length === 0) return;
    await this.client.query(
      `INSERT INTO upload_errors (tenant_id, upload_id, line, order_id, code, field, message)
       SELECT $1, $2, e.line, e.order_id, e.code, e.field, e.message
         FROM jsonb_to_recordset($3::jsonb) AS e(line bigint, order_id text, code text, field text, message text)
       ON CONFLICT DO NOTHING`,
      [t, uploadId, JSON.stringify(part.errors)],
    );
  }

  /** The upload ends: its state, and its bytes deleted (nothing will read them again). */
  finish(
    uploadId: string,
    state: 'complete' | 'failed' | 'terminated',
    error: string | null,
    now: number,
  ): Promise<void> {
    return inTransaction(this.client, async () => {
      await this.client.query(
        `UPDATE uploads SET state = $3, error = $4, updated_at = ${timestampOf(5)}, processor_boot = NULL
          WHERE tenant_id = $1 AND upload_id = $2`,
        [this.tenantId, uploadId, state, error, now],
      );
      await this.dropBytes([uploadId]);
    });
  }

  async errors(uploadId: string, limit: number): Promise<RowError[]> {
    const { rows } = await this.client.query<StoredRowError>(
      `SELECT line::float8 AS line, order_id, code, field, message FROM upload_errors
        WHERE tenant_id = $1 AND upload_id = $2 ORDER BY line, code LIMIT $3`,
      [this.tenantId, uploadId, limit],
    );
    return rows.map(rowErrorOf);
  }

  /** The tenant's unfinished uploads no live server is processing (a server killed mid-upload left them). */
  async orphaned(): Promise<UploadRow[]> {
    return (await orphanedUploads(this.client, this.tenantId)).map((o) => o.row);
  }

  /**
   * Makes `bootId` the upload's processor unless another live server is: true when this server is (now or
   * already) the one to process it.
   */
  async claim(uploadId: string, bootId: string): Promise<boolean> {
    const { rowCount } = await this.client.query(
      `UPDATE uploads SET processor_boot = $3
        WHERE tenant_id = $1 AND upload_id = $2 AND state IN ('receiving', 'processing')
          AND (processor_boot IS NULL OR processor_boot = $3 OR NOT ${processorAlive(4)})`,
      [this.tenantId, uploadId, bootId, ALIVE_MS],
    );
    return rowCount === 1;
  }

  /** Uploads still receiving whose client went quiet past the expiry: terminated, their bytes deleted. */
  expireDue(now: number): Promise<UploadRow[]> {
    return inTransaction(this.client, async () => {
      const { rows } = await this.client.query<UploadRow>(
        `UPDATE uploads SET state = 'terminated', error = 'expired', updated_at = ${timestampOf(3)}, processor_boot = NULL
          WHERE tenant_id = $1 AND state = 'receiving' AND expires_at <= ${timestampOf(2)} RETURNING ${ROW}`,
        [this.tenantId, now, now],
      );
      await this.dropBytes(rows.map((r) => r.upload_id));
      return rows;
    });
  }

  private async dropBytes(uploadIds: readonly string[]): Promise<void> {
    if (uploadIds.length === 0) return;
    await this.client.query('DELETE FROM upload_bytes WHERE tenant_id = $1 AND upload_id = ANY($2::text[])', [
      this.tenantId,
      uploadIds,
    ]);
  }
}

/**
 * Unfinished uploads no live server is processing, of one tenant or of every tenant in one query (what a
 * server looks for every few seconds: one statement, however many tenants there are).
 */
export async function orphanedUploads(
  db: pg.ClientBase | pg.Pool,
  tenantId?: number,
): Promise<UnfinishedUpload[]> {
  const { rows } = await db.query<UploadRow & { tenant_id: number }>(
    `SELECT tenant_id, ${ROW} FROM uploads
      WHERE state IN ('receiving', 'processing') AND (processor_boot IS NULL OR NOT ${processorAlive(1)})
        AND ($2::integer IS NULL OR tenant_id = $2)
      ORDER BY created_at`,
    [ALIVE_MS, tenantId ?? null],
  );
  return rows.map(({ tenant_id, ...row }) => ({ tenantId: tenant_id, row }));
}
