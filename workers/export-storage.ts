/**
 * Where an export job's steps (workers/export-job.ts) keep their state and bytes: a tenant's shard and a
 * file per part on SQLite; rows of `exports`/`export_parts`/`export_bytes` on PostgreSQL (issue 17), where
 * any server can resume a job or serve its download. The steps are the same on both; what differs is how
 * a batch and its checkpoint become durable together, how the parts are joined, and where rows are read.
 */

import { createHash } from 'node:crypto';
import { closeSync, fdatasyncSync, ftruncateSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { OrderPosition } from '../src/domain/cursor.js';
import type { ExportSpec } from '../src/domain/export.js';
import { rowPosition, type SearchRow } from '../src/domain/search.js';
import { exportBatches } from '../src/storage/export-batches.js';
import {
  type Checkpoint,
  type ExportPart,
  type ExportRow,
  type ExportStore,
  exportPartPath,
} from '../src/storage/export-store.js';
import { joinFiles } from '../src/storage/file-join.js';
import { ExportClaimLost, type PgExportStore } from '../src/storage/postgres/exports.js';
import { pgKeysetPages } from '../src/storage/postgres/search-rows.js';
import { buildPgCountSql, buildPgPositionAtSql } from '../src/storage/postgres/search-sql.js';
import { buildCountSql, buildPositionAtSql, needsSort } from '../src/storage/search-sql.js';
import { openShardReader } from '../src/storage/shards.js';
import { onPostgres, withPostgres, workerPostgres } from '../src/worker/postgres.js';
import type { TaskContext } from '../src/worker/worker-context.js';
import { pgExports, store } from './exports.js';

export { ExportClaimLost };

/** A page of an export's rows, read once, and where the next page starts (null: it was empty). */
export interface ExportPage extends Iterable<SearchRow> {
  positionAfter(): OrderPosition | null;
}

/** What a batch adds to a part: its bytes at `from`, the checkpoint after it, the row groups it completed. */
export interface PartCommit {
  from: number;
  bytes: Uint8Array;
  at: Checkpoint;
  added: { rows: number; bytes: number };
  rowGroups: readonly { rows: number; meta: Uint8Array }[];
}

/** One part being encoded: its batches made durable with their checkpoints, one at a time. */
export interface PartOutput {
  /** The batch's bytes and the checkpoint after them, durable together (or neither: the batch is redone). */
  commit(batch: PartCommit): Promise<void>;
  /** The part is finished. */
  done(): Promise<void>;
  close(): void;
}

export interface ExportJobStorage {
  /** The job if it is still to be run (queued, or running when a previous attempt was cut off). */
  active(exportId: string): Promise<ExportRow | null>;
  /** Whether this server may run the job now (always on SQLite: one server per data directory). */
  claim(exportId: string): Promise<boolean>;
  parts(exportId: string): Promise<ExportPart[]>;
  plan(exportId: string, cuts: readonly OrderPosition[]): Promise<void>;
  begin(exportId: string): Promise<void>;
  /** The last row of each part but the last, for at most `maxParts` parts of about equal rows. */
  cutPoints(spec: ExportSpec, maxParts: number, minRowsPerPart: number): Promise<OrderPosition[]>;
  /** The rows of a part after `after` down to `floor`, a page of `batchRows` at a time. */
  pages(
    spec: ExportSpec,
    after: OrderPosition | null,
    floor: OrderPosition | null,
    batchRows: number,
  ): AsyncIterable<ExportPage>;
  /** Opens a part's output at its checkpoint (bytes past it, from an attempt cut off, are dropped). */
  openPart(row: ExportRow, part: ExportPart): Promise<PartOutput>;
  rowGroups(exportId: string, part: number): Promise<Uint8Array[]>;
  /**
   * Joins the finished parts and the trailer into the export's file, hashed, and marks the job complete.
   * Null when this server no longer runs the job.
   */
  complete(
    row: ExportRow,
    parts: readonly ExportPart[],
    trailer: Uint8Array,
    retentionMs: number,
  ): Promise<{ size: number; sha256: string } | null>;
  /** Marks the job failed and deletes what it wrote. */
  fail(row: ExportRow, parts: readonly ExportPart[], error: string): Promise<void>;
}

/** The export job storage of the tenant on this server's backend. */
export function exportJobStorage(ctx: TaskContext, tenantId: number, bootId: string): ExportJobStorage {
  return onPostgres(ctx)
    ? new PostgresJobStorage(ctx, tenantId, bootId)
    : new SqliteJobStorage(ctx, tenantId);
}

const isActive = (row: ExportRow | undefined): row is ExportRow =>
  row !== undefined && (row.state === 'queued' || row.state === 'running');

/** Cut points from a count and the position of every (count / parts)-th row. */
async function cutsFrom(
  rows: number,
  maxParts: number,
  minRowsPerPart: number,
  positionAt: (offset: number) => Promise<OrderPosition>,
): Promise<OrderPosition[]> {
  const parts = Math.min(maxParts, Math.floor(rows / minRowsPerPart));
  const cuts: OrderPosition[] = [];
  for (let k = 1; k < parts; k++) cuts.push(await positionAt(Math.floor((rows * k) / parts) - 1));
  return cuts;
}

function writeAll(fd: number, bytes: Uint8Array, position: number): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, position + done);
}

class SqliteJobStorage implements ExportJobStorage {
  private readonly jobs: ExportStore;

  constructor(
    private readonly ctx: TaskContext,
    private readonly tenantId: number,
  ) {
    this.jobs = store(ctx, tenantId);
  }

  private locked<T>(work: () => T): T {
    return this.ctx.lock.withLock(this.tenantId, work);
  }

  async active(exportId: string) {
    const row = this.jobs.get(exportId);
    return isActive(row) ? row : null;
  }

  async claim() {
    return true;
  }

  async parts(exportId: string) {
    return this.jobs.parts(exportId);
  }

  async plan(exportId: string, cuts: readonly OrderPosition[]) {
    this.locked(() => this.jobs.plan(exportId, cuts));
  }

  async begin(exportId: string) {
    this.locked(() => this.jobs.begin(exportId));
  }

  async cutPoints(spec: ExportSpec, maxParts: number, minRowsPerPart: number) {
    if (maxParts <= 1 || needsSort(spec.filters)) return [];
    const db = openShardReader(this.ctx.data.dataDir, this.tenantId);
    try {
      const count = buildCountSql(spec.filters);
      const at = buildPositionAtSql(spec.filters);
      const position = db.prepare(at.sql);
      // one read transaction: the count and the positions see the same rows
      db.exec('BEGIN');
      try {
        const rows = (db.prepare(count.sql).get(...count.params) as { n: number }).n;
        return await cutsFrom(
          rows,
          maxParts,
          minRowsPerPart,
          async (offset) => position.get(...at.params, offset) as OrderPosition,
        );
      } finally {
        db.exec('COMMIT');
      }
    } finally {
      db.close();
    }
  }

  async *pages(
    spec: ExportSpec,
    after: OrderPosition | null,
    floor: OrderPosition | null,
    batchRows: number,
  ) {
    const db = openShardReader(this.ctx.data.dataDir, this.tenantId);
    try {
      yield* exportBatches(db, spec.filters, spec.fields, after, batchRows, floor);
    } finally {
      db.close();
    }
  }

  /**
   * Part 0 is written at the file's own path, part k beside it. Each batch is appended, fdatasync'ed, and
   * only then checkpointed: a crash between the two leaves bytes past the checkpoint, which the next
   * attempt cuts off here.
   */
  async openPart(row: ExportRow, part: ExportPart): Promise<PartOutput> {
    const path = exportPartPath(this.ctx.data.dataDir, this.tenantId, row, part.part);
    mkdirSync(dirname(path), { recursive: true });
    const fd = openSync(path, part.at.bytes === 0 ? 'w' : 'r+');
    if (part.at.bytes > 0) ftruncateSync(fd, part.at.bytes);
    return {
      commit: async ({ from, bytes, at, added, rowGroups }) => {
        writeAll(fd, bytes, from);
        fdatasyncSync(fd);
        this.locked(() => this.jobs.checkpoint(row.export_id, part.part, at, added, rowGroups));
      },
      done: async () => {
        fdatasyncSync(fd);
        this.locked(() => this.jobs.partDone(row.export_id, part.part));
      },
      close: () => closeSync(fd),
    };
  }

  async rowGroups(exportId: string, part: number) {
    return this.jobs.rowGroups(exportId, part);
  }

  /** The other parts' bytes appended to part 0's file, then the trailer; the part files removed after. */
  async complete(row: ExportRow, parts: readonly ExportPart[], trailer: Uint8Array, retentionMs: number) {
    const pieces = parts.map((p) => ({
      path: exportPartPath(this.ctx.data.dataDir, this.tenantId, row, p.part),
      bytes: p.at.bytes,
    }));
    const { size, sha256 } = await joinFiles(pieces, trailer);
    this.locked(() => this.jobs.complete(row.export_id, size, sha256, Date.now(), retentionMs));
    for (const piece of pieces.slice(1)) rmSync(piece.path, { force: true });
    return { size, sha256 };
  }

  async fail(row: ExportRow, parts: readonly ExportPart[], error: string) {
    this.locked(() => this.jobs.fail(row.export_id, error, Date.now()));
    for (const p of parts.length ? parts : [{ part: 0 }])
      rmSync(exportPartPath(this.ctx.data.dataDir, this.tenantId, row, p.part), { force: true });
  }
}

/** Pieces read per round trip when the finished parts are hashed (each up to 1 MiB). */
const HASH_PIECES = 8;

class PostgresJobStorage implements ExportJobStorage {
  constructor(
    private readonly ctx: TaskContext,
    private readonly tenantId: number,
    private readonly bootId: string,
  ) {}

  private on<T>(query: string, work: (jobs: PgExportStore) => Promise<T>): Promise<T> {
    return pgExports(this.ctx, this.tenantId, query, work);
  }

  async active(exportId: string) {
    const row = await this.on('export_get', (jobs) => jobs.get(exportId));
    return isActive(row) ? row : null;
  }

  claim(exportId: string) {
    return this.on('export_claim', (jobs) => jobs.claim(exportId, this.bootId));
  }

  parts(exportId: string) {
    return this.on('export_parts', (jobs) => jobs.parts(exportId));
  }

  plan(exportId: string, cuts: readonly OrderPosition[]) {
    return this.on('export_plan', (jobs) => jobs.plan(exportId, cuts));
  }

  begin(exportId: string) {
    return this.on('export_begin', (jobs) => jobs.begin(exportId));
  }

  async cutPoints(spec: ExportSpec, maxParts: number, minRowsPerPart: number) {
    if (maxParts <= 1 || needsSort(spec.filters)) return [];
    return withPostgres(this.ctx, 'export_cuts', async (client) => {
      // one snapshot: the count and the positions see the same rows
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      try {
        const count = buildPgCountSql(this.tenantId, spec.filters);
        const rows = (await client.query<{ n: number }>(count.sql, count.params)).rows[0]!.n;
        return await cutsFrom(rows, maxParts, minRowsPerPart, async (offset) => {
          const at = buildPgPositionAtSql(this.tenantId, spec.filters, null, offset);
          return (await client.query<OrderPosition>(at.sql, at.params)).rows[0]!;
        });
      } finally {
        await client.query('COMMIT');
      }
    });
  }

  async *pages(
    spec: ExportSpec,
    after: OrderPosition | null,
    floor: OrderPosition | null,
    batchRows: number,
  ) {
    const pages = pgKeysetPages(
      await workerPostgres(),
      this.tenantId,
      spec.filters,
      spec.fields,
      after,
      -1,
      floor,
      batchRows,
    );
    for await (const rows of pages) {
      const last = rows.at(-1);
      yield Object.assign(rows, { positionAfter: () => (last ? rowPosition(last) : null) });
    }
  }

  /** Nothing to open or cut back: a batch's pieces and its checkpoint commit together. */
  async openPart(row: ExportRow, part: ExportPart): Promise<PartOutput> {
    return {
      commit: ({ from, bytes, at, added, rowGroups }) =>
        this.on('export_checkpoint', (jobs) =>
          jobs.checkpoint(row.export_id, part.part, from, bytes, at, added, rowGroups, this.bootId),
        ),
      done: () => this.on('export_part_done', (jobs) => jobs.partDone(row.export_id, part.part)),
      close: () => {},
    };
  }

  rowGroups(exportId: string, part: number) {
    return this.on('export_row_groups', (jobs) => jobs.rowGroups(exportId, part));
  }

  /**
   * The parts' pieces read back in order and hashed with the trailer (a few pieces at a time: memory stays
   * flat), then one transaction stores the trailer, moves every piece to its offset in the file and
   * completes the job.
   */
  async complete(row: ExportRow, parts: readonly ExportPart[], trailer: Uint8Array, retentionMs: number) {
    const hash = createHash('sha256');
    let after = { part: -1, start: -1 };
    for (;;) {
      const pieces = await this.on('export_read_pieces', (jobs) =>
        jobs.piecesAfter(row.export_id, after, HASH_PIECES),
      );
      for (const piece of pieces) hash.update(piece.bytes);
      const last = pieces.at(-1);
      if (!last || pieces.length < HASH_PIECES) break;
      after = { part: last.part, start: last.start };
    }
    hash.update(trailer);
    const sha256 = hash.digest('hex');
    const partBytes = parts.map((p) => p.at.bytes);
    const size = await this.on('export_complete', (jobs) =>
      jobs.complete(row.export_id, partBytes, trailer, sha256, Date.now(), retentionMs, this.bootId),
    );
    return size === null ? null : { size, sha256 };
  }

  fail(row: ExportRow, _parts: readonly ExportPart[], error: string) {
    return this.on('export_fail', (jobs) => jobs.fail(row.export_id, error, Date.now()));
  }
}
