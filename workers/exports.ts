import { randomBytes } from 'node:crypto';
import { closeSync, fdatasyncSync, ftruncateSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ExportSpec, RunExportResult } from '../src/domain/export.js';
import { type ExportQuota, firstExceeded, type Quoted } from '../src/domain/quota.js';
import { filterShape, searchTrailer } from '../src/domain/search.js';
import { createExportEncoder, encodedFile } from '../src/formats/export-encoder.js';
import type { StreamTaskBase, TaskBase } from '../src/pool/protocol.js';
import { defineStreamTask, defineTask, type TaskContext } from '../src/pool/worker-context.js';
import { exportBatches, positionAfter } from '../src/storage/export-batches.js';
import { type ExportRow, ExportStore, exportFilePath } from '../src/storage/export-store.js';
import { sha256OfFile } from '../src/storage/file-hash.js';
import { shardPath } from '../src/storage/shards.js';
import { openDatabase } from '../src/storage/sqlite.js';

/** A read connection for one export: a small private cache, since a scan reads each page about once. */
function readConnection(ctx: TaskContext, tenantId: number) {
  return openDatabase(shardPath(ctx.data.dataDir, tenantId), { readonly: true, cacheMiB: 2 });
}

function store(ctx: TaskContext, tenantId: number): ExportStore {
  return new ExportStore(ctx.shards.db(tenantId));
}

export interface CreateExportInput extends TaskBase {
  spec: ExportSpec;
  limits: { jobs: number; bytes: number };
}

/** Creates a queued job, unless the tenant is at its quota of jobs or kept bytes (checked under the lock). */
export const createExport = defineTask(
  'createExport',
  (ctx, input: CreateExportInput): Quoted<ExportRow, ExportQuota> =>
    ctx.lock.withLock(input.tenantId, () => {
      const exports = store(ctx, input.tenantId);
      const use = exports.usage();
      const over = firstExceeded<ExportQuota>({
        jobs: { used: use.active, limit: input.limits.jobs, adding: 1 },
        bytes: { used: use.bytesKept, limit: input.limits.bytes, adding: 0 },
      });
      if (over) return { ok: false, ...over };
      const exportId = `exp_${randomBytes(12).toString('base64url')}`;
      return { ok: true, value: exports.insert(exportId, input.spec, Date.now()) };
    }),
);

export interface ExportLookupInput extends TaskBase {
  exportId: string;
}

export const getExport = defineTask(
  'getExport',
  (ctx, input: ExportLookupInput): ExportRow | null => store(ctx, input.tenantId).get(input.exportId) ?? null,
);

export interface ListExportsInput extends TaskBase {
  before: number | null;
  limit: number;
}

export const listExports = defineTask('listExports', (ctx, input: ListExportsInput): ExportRow[] =>
  store(ctx, input.tenantId).list(input.before, input.limit),
);

/** Unfinished jobs of one tenant, oldest first: what a starting server resumes. */
export const unfinishedExports = defineTask('unfinishedExports', (ctx, input: TaskBase): string[] =>
  store(ctx, input.tenantId)
    .unfinished()
    .map((r) => r.export_id),
);

/** Marks due exports expired and deletes their files. */
export const expireExports = defineTask(
  'expireExports',
  (ctx, input: TaskBase & { now: number }): string[] => {
    const due = ctx.lock.withLock(input.tenantId, () => store(ctx, input.tenantId).expireDue(input.now));
    for (const row of due)
      rmSync(exportFilePath(ctx.data.dataDir, input.tenantId, row.export_id, row.format, row.compression), {
        force: true,
      });
    if (due.length) ctx.log.info({ export_ids: due.map((r) => r.export_id) }, 'exports expired');
    return due.map((r) => r.export_id);
  },
);

export interface RunExportInput extends ExportLookupInput {
  batchRows: number;
  /** 0 = unlimited. Paces a background export so it leaves room for interactive work. */
  maxRowsPerSecond: number;
  retentionMs: number;
  /** Int32 flag set by the main thread at shutdown: stop after the current checkpoint. */
  stop: SharedArrayBuffer;
}

function writeAll(fd: number, bytes: Uint8Array, position: number): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, position + done);
}

/**
 * Runs (or resumes) one export job. The file is cut back to the last checkpoint's durable length and the
 * keyset scan restarts after the checkpoint's key, so finished batches are neither re-read nor re-encoded.
 * Each batch is appended, fdatasync'ed, and only then checkpointed (rows, bytes, key, row groups) in one
 * transaction: a crash between the two leaves bytes past the checkpoint, which the next attempt truncates.
 */
export const runExport = defineTask(
  'runExport',
  async (ctx, input: RunExportInput): Promise<RunExportResult> => {
    const jobs = store(ctx, input.tenantId);
    const row = jobs.get(input.exportId);
    if (!row || (row.state !== 'queued' && row.state !== 'running')) return { state: 'skipped' };
    const spec = jobs.specOf(row);
    const path = exportFilePath(ctx.data.dataDir, input.tenantId, row.export_id, row.format, row.compression);
    const stop = new Int32Array(input.stop);
    const started = performance.now();
    let at = jobs.checkpointOf(row);
    const resumedFromRows = at.rows;
    ctx.lock.withLock(input.tenantId, () => jobs.begin(row.export_id));
    ctx.log.info(
      {
        export_id: row.export_id,
        format: row.format,
        resumed_from_rows: at.rows,
        resumed_from_bytes: at.bytes,
      },
      at.rows > 0 ? 'export resumed from checkpoint' : 'export started',
    );
    const db = readConnection(ctx, input.tenantId);
    let fd: number | null = null;
    let encodedRows = 0;
    try {
      const encoder = await createExportEncoder(spec.format, spec.compression, spec.fields);
      const rowGroups = spec.format === 'parquet' ? jobs.rowGroups(row.export_id) : [];
      mkdirSync(dirname(path), { recursive: true });
      if (at.bytes === 0) {
        fd = openSync(path, 'w');
        const header = encoder.header();
        writeAll(fd, header, 0);
        at = { ...at, bytes: header.length };
      } else {
        fd = openSync(path, 'r+');
        ftruncateSync(fd, at.bytes);
      }
      const paceStart = performance.now();
      for (const rows of exportBatches(db, spec.filters, spec.fields, at.position, input.batchRows)) {
        const batch = ctx.obs.timeQuery(`export_encode:${spec.format}`, () => encoder.encode(rows, at.bytes));
        writeAll(fd, batch.bytes, at.bytes);
        fdatasyncSync(fd);
        at = {
          rows: at.rows + rows.length,
          bytes: at.bytes + batch.bytes.length,
          position: positionAfter(rows),
        };
        const checkpoint = at;
        ctx.lock.withLock(input.tenantId, () => jobs.checkpoint(row.export_id, checkpoint, batch.rowGroups));
        rowGroups.push(...batch.rowGroups.map((g) => g.meta));
        encodedRows += rows.length;
        ctx.obs.record('export_rows_total', { format: spec.format }, rows.length);
        ctx.obs.record('export_bytes_total', { format: spec.format }, batch.bytes.length);
        if (Atomics.load(stop, 0) === 1) {
          ctx.log.info(
            { export_id: row.export_id, rows: at.rows },
            'export paused at a checkpoint for shutdown',
          );
          return { state: 'interrupted', rows: at.rows };
        }
        if (input.maxRowsPerSecond > 0) {
          const dueMs = (encodedRows / input.maxRowsPerSecond) * 1000 - (performance.now() - paceStart);
          if (dueMs > 0) await pausedUntil(dueMs, stop);
        } else {
          await sleep(0); // let other tasks on this worker interleave between batches
        }
      }
      const trailer = encoder.trailer(rowGroups);
      writeAll(fd, trailer, at.bytes);
      fdatasyncSync(fd);
      closeSync(fd);
      fd = null;
      const size = at.bytes + trailer.length;
      const sha256 = await sha256OfFile(path);
      ctx.lock.withLock(input.tenantId, () =>
        jobs.complete(row.export_id, size, sha256, Date.now(), input.retentionMs),
      );
      const seconds = (performance.now() - started) / 1000;
      ctx.obs.record('export_duration_seconds', { format: spec.format }, seconds);
      ctx.log.info(
        {
          export_id: row.export_id,
          rows: at.rows,
          encoded_rows: encodedRows,
          size,
          seconds,
          shape: filterShape(spec.filters),
        },
        'export complete',
      );
      return { state: 'complete', rows: at.rows, size, resumedFromRows };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      ctx.log.error({ err: error, export_id: row.export_id }, 'export failed');
      ctx.lock.withLock(input.tenantId, () => jobs.fail(row.export_id, message, Date.now()));
      rmSync(path, { force: true });
      return { state: 'failed', error: message };
    } finally {
      if (fd !== null) closeSync(fd);
      db.close();
    }
  },
);

export interface StreamExportInput extends StreamTaskBase {
  spec: ExportSpec;
  batchRows: number;
}

/** The export as the response itself: the same encoder, batches written to the socket as it takes them. */
export const streamExport = defineStreamTask(
  'streamExport',
  async (ctx, input: StreamExportInput, sink) => {
    const { spec } = input;
    const encoder = await createExportEncoder(spec.format, spec.compression, spec.fields);
    const db = readConnection(ctx, input.tenantId);
    const progress = { rows: 0, bytes: 0 };
    try {
      const batches = exportBatches(db, spec.filters, spec.fields, null, input.batchRows);
      for (const bytes of encodedFile(encoder, batches, progress)) await sink.writeBytes(bytes);
    } finally {
      db.close();
      ctx.obs.record('stream_rows_total', { route: 'export_stream' }, progress.rows);
    }
    return { rows: progress.rows };
  },
  // A CSV cut off mid-way gets a last line that says so; a Parquet file without its footer is unreadable anyway.
  (failure, input) => (input.spec.format === 'csv' ? `\r\n${searchTrailer('ndjson', failure)}` : ''),
);

/** Waits `ms` (the export's pacing), waking early when shutdown raises the stop flag. */
async function pausedUntil(ms: number, stop: Int32Array): Promise<void> {
  const until = performance.now() + ms;
  while (Atomics.load(stop, 0) !== 1 && performance.now() < until)
    await sleep(Math.min(100, until - performance.now()));
}
