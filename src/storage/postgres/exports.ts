/**
 * Export jobs on PostgreSQL (issue 17): the same rows and answers as SQLite's `ExportStore`
 * (src/storage/export-store.ts), and the file itself as rows of `export_bytes` (sql/postgres/010), so any
 * server behind a load balancer serves a download and can finish a job another server began. What SQLite's
 * one process per data directory did not need: a quota check two servers cannot pass at once (an advisory
 * lock per tenant), one runner per job among the servers (`processor_boot`), and a checkpoint that a runner
 * which lost its job (its heartbeat stopped long enough for another server to take over) cannot write.
 */
import type pg from 'pg';
import type { OrderPosition } from '../../domain/cursor.js';
import type { ExportSpec } from '../../domain/export.js';
import { type ExportQuota, exportOverQuota, type Quoted } from '../../domain/quota.js';
import {
  type Checkpoint,
  type ExportPart,
  type ExportRow,
  type PartRow,
  partOf,
  positionKey,
} from '../export-store.js';
import { ALIVE_MS, processorAlive } from './boots.js';
import { PIECE_BYTES } from './byte-pieces.js';
import { epochMsOf, timestampOf } from './epoch-ms.js';
import { lockTenant } from './tenant-locks.js';
import { inTransaction } from './transaction.js';

/** An exports row as `ExportRow` (times in ms since the epoch, counts as numbers, the request as JSON text). */
const ROW = `export_id, state, format, compression, request::text AS request,
  rows_written::float8 AS rows_written, bytes_written::float8 AS bytes_written, checkpoint_key,
  size::float8 AS size, sha256, error, attempts, resumed_from_rows::float8 AS resumed_from_rows,
  ${epochMsOf('created_at')}, ${epochMsOf('finished_at')}, ${epochMsOf('expires_at')}`;

const PART = `part, floor_key, checkpoint_key, rows_written::float8 AS rows_written,
  bytes_written::float8 AS bytes_written, done`;

/** The job is run by another server now (this one was taken for dead): its checkpoint is not written. */
export class ExportClaimLost extends Error {
  constructor(exportId: string, part: number) {
    super(`export ${exportId} part ${part} is run by another server now`);
    this.name = 'ExportClaimLost';
  }
}

/** One stored piece of an export's file. */
export interface ExportPiece {
  part: number;
  start: number;
  bytes: Buffer;
}

export class PgExportStore {
  constructor(
    private readonly client: pg.ClientBase,
    private readonly tenantId: number,
  ) {}

  /**
   * Creates a queued job run by `bootId`, unless the tenant is at a quota; two servers checking at once take
   * turns. created_at is unique per tenant (a burst gets consecutive milliseconds), so it alone orders the list.
   */
  create(
    exportId: string,
    spec: ExportSpec,
    now: number,
    limits: { jobs: number; bytes: number },
    bootId: string,
  ): Promise<Quoted<ExportRow, ExportQuota>> {
    return inTransaction(this.client, async () => {
      const t = this.tenantId;
      await lockTenant(this.client, 'export_quota', t);
      const over = exportOverQuota(await this.usage(), limits);
      if (over) return { ok: false, ...over };
      const { rows } = await this.client.query<ExportRow>(
        `INSERT INTO exports (tenant_id, export_id, state, format, compression, request, created_at, processor_boot)
         SELECT $1, $2, 'queued', $3, $4, $5::jsonb,
                greatest(${timestampOf(6)}, (SELECT max(created_at) + interval '1 millisecond' FROM exports WHERE tenant_id = $1)),
                $7
         RETURNING ${ROW}`,
        [t, exportId, spec.format, spec.compression, JSON.stringify(spec), now, bootId],
      );
      return { ok: true, value: rows[0]! };
    });
  }

  /** Jobs queued or running, and the bytes of finished files still kept (the tenant's export quotas). */
  async usage(): Promise<{ active: number; bytesKept: number }> {
    const { rows } = await this.client.query<{ active: number; bytesKept: number }>(
      `SELECT count(*) FILTER (WHERE state IN ('queued', 'running'))::float8 AS active,
              coalesce(sum(size) FILTER (WHERE state = 'complete'), 0)::float8 AS "bytesKept"
         FROM exports WHERE tenant_id = $1`,
      [this.tenantId],
    );
    return rows[0]!;
  }

  async get(exportId: string): Promise<ExportRow | undefined> {
    const { rows } = await this.client.query<ExportRow>(
      `SELECT ${ROW} FROM exports WHERE tenant_id = $1 AND export_id = $2`,
      [this.tenantId, exportId],
    );
    return rows[0];
  }

  /** Newest first, keyset-paginated on created_at (unique per tenant). */
  async list(beforeCreatedAt: number | null, limit: number): Promise<ExportRow[]> {
    const { rows } = await this.client.query<ExportRow>(
      `SELECT ${ROW} FROM exports
        WHERE tenant_id = $1 AND ($2::float8 IS NULL OR created_at < ${timestampOf(2)})
        ORDER BY created_at DESC LIMIT $3`,
      [this.tenantId, beforeCreatedAt, limit],
    );
    return rows;
  }

  /**
   * Makes `bootId` the job's runner unless another live server is: true when this server is (now or
   * already) the one to run it.
   */
  async claim(exportId: string, bootId: string): Promise<boolean> {
    const { rowCount } = await this.client.query(
      `UPDATE exports SET processor_boot = $3
        WHERE tenant_id = $1 AND export_id = $2 AND state IN ('queued', 'running')
          AND (processor_boot IS NULL OR processor_boot = $3 OR NOT ${processorAlive(4)})`,
      [this.tenantId, exportId, bootId, ALIVE_MS],
    );
    return rowCount === 1;
  }

  /** Starts an attempt: counts it and notes how many rows were already durable (0 for a fresh job). */
  async begin(exportId: string): Promise<void> {
    await this.client.query(
      `UPDATE exports SET state = 'running', attempts = attempts + 1, resumed_from_rows = rows_written
        WHERE tenant_id = $1 AND export_id = $2`,
      [this.tenantId, exportId],
    );
  }

  /** The job's parts, in order (none before it is planned). */
  async parts(exportId: string): Promise<ExportPart[]> {
    const { rows } = await this.client.query<PartRow>(
      `SELECT ${PART} FROM export_parts WHERE tenant_id = $1 AND export_id = $2 ORDER BY part`,
      [this.tenantId, exportId],
    );
    return rows.map(partOf);
  }

  /** Cuts a job into parts at the given positions (as SQLite's store: part k ends at cut k). */
  async plan(exportId: string, cuts: readonly OrderPosition[]): Promise<void> {
    const parts = Array.from({ length: cuts.length + 1 }, (_, k) => k);
    await this.client.query(
      `INSERT INTO export_parts (tenant_id, export_id, part, checkpoint_key, floor_key)
       SELECT $1, $2, p.part, p.checkpoint_key, p.floor_key
         FROM unnest($3::int[], $4::text[], $5::text[]) AS p(part, checkpoint_key, floor_key)
       ON CONFLICT DO NOTHING`,
      [
        this.tenantId,
        exportId,
        parts,
        parts.map((k) => positionKey(cuts[k - 1])),
        parts.map((k) => positionKey(cuts[k])),
      ],
    );
  }

  /**
   * Stores a batch's bytes (at `from` in the part) and the part's new checkpoint in one transaction, with the
   * row groups it completed, and adds the rows and bytes to the job's totals. Written only while `bootId`
   * runs the job and the part's checkpoint is still at `from`: else ExportClaimLost, and nothing is written.
   */
  checkpoint(
    exportId: string,
    part: number,
    from: number,
    bytes: Uint8Array,
    at: Checkpoint,
    added: { rows: number; bytes: number },
    rowGroups: readonly { rows: number; meta: Uint8Array }[],
    bootId: string,
  ): Promise<void> {
    const t = this.tenantId;
    return inTransaction(this.client, async () => {
      const moved = await this.client.query(
        `WITH job AS (
           UPDATE exports SET rows_written = rows_written + $5, bytes_written = bytes_written + $6
            WHERE tenant_id = $1 AND export_id = $2 AND processor_boot = $7 RETURNING 1)
         UPDATE export_parts SET rows_written = $8, bytes_written = $9, checkpoint_key = $10
          WHERE tenant_id = $1 AND export_id = $2 AND part = $3 AND bytes_written = $4 AND EXISTS (SELECT 1 FROM job)`,
        [
          t,
          exportId,
          part,
          from,
          added.rows,
          added.bytes,
          bootId,
          at.rows,
          at.bytes,
          positionKey(at.position),
        ],
      );
      if (moved.rowCount !== 1) throw new ExportClaimLost(exportId, part);
      const starts: number[] = [];
      const pieces: Buffer[] = [];
      for (let offset = 0; offset < bytes.length; offset += PIECE_BYTES) {
        starts.push(from + offset);
        const piece = bytes.subarray(offset, offset + PIECE_BYTES);
        pieces.push(Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength));
      }
      if (pieces.length)
        await this.client.query(
          `INSERT INTO export_bytes (tenant_id, export_id, part, start_offset, bytes)
           SELECT $1, $2, $3, p.start, p.bytes FROM unnest($4::bigint[], $5::bytea[]) AS p(start, bytes)`,
          [t, exportId, part, starts, pieces],
        );
      if (rowGroups.length)
        await this.client.query(
          `INSERT INTO export_row_groups (tenant_id, export_id, part, ordinal, rows, meta)
           SELECT $1, $2, $3, (SELECT count(*) FROM export_row_groups
                                WHERE tenant_id = $1 AND export_id = $2 AND part = $3) + g.ord - 1, g.rows, g.meta
             FROM unnest($4::bigint[], $5::bytea[]) WITH ORDINALITY AS g(rows, meta, ord)`,
          [t, exportId, part, rowGroups.map((g) => g.rows), rowGroups.map((g) => Buffer.from(g.meta))],
        );
    });
  }

  async partDone(exportId: string, part: number): Promise<void> {
    await this.client.query(
      'UPDATE export_parts SET done = true WHERE tenant_id = $1 AND export_id = $2 AND part = $3',
      [this.tenantId, exportId, part],
    );
  }

  /** A part's row groups in order, offsets relative to the part's own start. */
  async rowGroups(exportId: string, part: number): Promise<Uint8Array[]> {
    const { rows } = await this.client.query<{ meta: Buffer }>(
      `SELECT meta FROM export_row_groups WHERE tenant_id = $1 AND export_id = $2 AND part = $3 ORDER BY ordinal`,
      [this.tenantId, exportId, part],
    );
    return rows.map((r) => r.meta);
  }

  /** Up to `limit` pieces after (part, start), in file order (parts in order, each from its start). */
  async piecesAfter(
    exportId: string,
    after: { part: number; start: number },
    limit: number,
  ): Promise<ExportPiece[]> {
    const { rows } = await this.client.query<ExportPiece>(
      `SELECT part, start_offset::float8 AS start, bytes FROM export_bytes
        WHERE tenant_id = $1 AND export_id = $2 AND (part, start_offset) > ($3, $4)
        ORDER BY part, start_offset LIMIT $5`,
      [this.tenantId, exportId, after.part, after.start, limit],
    );
    return rows;
  }

  /**
   * Completes the job (run by `bootId`): the closing bytes stored after the last part, every piece moved to
   * its offset in the whole file (part k's pieces by the sizes of the parts before it), the parts forgotten.
   * `partBytes`: each part's bytes in order; the file is their sum plus the trailer. Answers the file's
   * size, or null when `bootId` no longer runs the job (nothing is written then).
   */
  complete(
    exportId: string,
    partBytes: readonly number[],
    trailer: Uint8Array,
    sha256: string,
    now: number,
    retentionMs: number,
    bootId: string,
  ): Promise<number | null> {
    const t = this.tenantId;
    const bases: number[] = [];
    let size = 0;
    for (const bytes of partBytes) {
      bases.push(size);
      size += bytes;
    }
    const trailerPart = partBytes.length;
    return inTransaction(this.client, async () => {
      const done = await this.client.query(
        `UPDATE exports SET state = 'complete', size = $3, sha256 = $4, bytes_written = $3, finished_at = ${timestampOf(5)},
           expires_at = ${timestampOf(6)}, processor_boot = NULL
         WHERE tenant_id = $1 AND export_id = $2 AND state = 'running' AND processor_boot = $7`,
        [t, exportId, size + trailer.length, sha256, now, now + retentionMs, bootId],
      );
      if (done.rowCount !== 1) return null;
      if (trailer.length)
        await this.client.query(
          'INSERT INTO export_bytes (tenant_id, export_id, part, start_offset, bytes) VALUES ($1, $2, $3, 0, $4)',
          [t, exportId, trailerPart, Buffer.from(trailer)],
        );
      // part 0's pieces are where they belong; the new keys of the others (part 0, offset ≥ part 0's size)
      // never meet a key in use, whatever order the rows are updated in
      await this.client.query(
        `UPDATE export_bytes b SET part = 0, start_offset = b.start_offset + m.base
           FROM unnest($3::int[], $4::bigint[]) AS m(part, base)
          WHERE b.tenant_id = $1 AND b.export_id = $2 AND b.part = m.part AND m.part > 0`,
        [t, exportId, [...bases.keys(), trailerPart], [...bases, size]],
      );
      await this.forgetParts(exportId);
      return size + trailer.length;
    });
  }

  /** Marks the job failed; its bytes and parts are deleted. */
  fail(exportId: string, error: string, now: number): Promise<void> {
    return inTransaction(this.client, async () => {
      await this.client.query(
        `UPDATE exports SET state = 'failed', error = $3, finished_at = ${timestampOf(4)}, processor_boot = NULL
          WHERE tenant_id = $1 AND export_id = $2`,
        [this.tenantId, exportId, error, now],
      );
      await this.forgetParts(exportId);
      await this.dropBytes([exportId]);
    });
  }

  private async forgetParts(exportId: string): Promise<void> {
    for (const table of ['export_row_groups', 'export_parts'])
      await this.client.query(`DELETE FROM ${table} WHERE tenant_id = $1 AND export_id = $2`, [
        this.tenantId,
        exportId,
      ]);
  }

  /** Complete exports past their retention, marked expired, their bytes deleted. */
  expireDue(now: number): Promise<ExportRow[]> {
    return inTransaction(this.client, async () => {
      const { rows } = await this.client.query<ExportRow>(
        `UPDATE exports SET state = 'expired'
          WHERE tenant_id = $1 AND state = 'complete' AND expires_at <= ${timestampOf(2)} RETURNING ${ROW}`,
        [this.tenantId, now],
      );
      await this.dropBytes(rows.map((r) => r.export_id));
      return rows;
    });
  }

  /** Complete exports (an erasure reports those whose files hold customer columns). */
  async completed(): Promise<ExportRow[]> {
    const { rows } = await this.client.query<ExportRow>(
      `SELECT ${ROW} FROM exports WHERE tenant_id = $1 AND state = 'complete'`,
      [this.tenantId],
    );
    return rows;
  }

  private async dropBytes(exportIds: readonly string[]): Promise<void> {
    if (exportIds.length === 0) return;
    await this.client.query('DELETE FROM export_bytes WHERE tenant_id = $1 AND export_id = ANY($2::text[])', [
      this.tenantId,
      exportIds,
    ]);
  }
}

/**
 * Unfinished export jobs no live server runs, of one tenant or of every tenant in one query, oldest first: what a server
 * resumes at start and takes over every few seconds.
 */
export async function orphanedExports(
  db: pg.ClientBase | pg.Pool,
  tenantId?: number,
): Promise<{ tenantId: number; exportId: string }[]> {
  const { rows } = await db.query<{ tenantId: number; exportId: string }>(
    `SELECT tenant_id AS "tenantId", export_id AS "exportId" FROM exports
      WHERE state IN ('queued', 'running') AND (processor_boot IS NULL OR NOT ${processorAlive(1)})
        AND ($2::integer IS NULL OR tenant_id = $2)
      ORDER BY created_at`,
    [ALIVE_MS, tenantId ?? null],
  );
  return rows;
}
