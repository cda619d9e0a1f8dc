/**
 * Export jobs, step by step. A job is cut into parts (consecutive keyset ranges of about equal rows); each
 * part is encoded by its own worker into its own file with its own checkpoints, so a job uses as many cores
 * as it has parts; when every part is done the files are joined in order under one footer. Every step
 * can be cut off by a crash and run again: a part resumes from its checkpoint, the join starts over.
 */

import { closeSync, fdatasyncSync, ftruncateSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { OrderPosition } from '../src/domain/cursor.js';
import type {
  ExportPartResult,
  ExportSpec,
  FinishExportResult,
  PlanExportResult,
} from '../src/domain/export.js';
import { filterShape } from '../src/domain/search.js';
import { createExportEncoder, releaseExportEncoder } from '../src/formats/export-encoder.js';
import { shiftRowGroup } from '../src/formats/parquet-assembly.js';
import type { TaskBase } from '../src/pool/protocol.js';
import { exportBatches } from '../src/storage/export-batches.js';
import { type ExportRow, type ExportStore, exportPartPath } from '../src/storage/export-store.js';
import { joinFiles } from '../src/storage/file-join.js';
import { buildCountSql, buildPositionAtSql, needsSort } from '../src/storage/search-sql.js';
import { openShardReader } from '../src/storage/shards.js';
import { defineTask, type TaskContext } from '../src/worker/worker-context.js';
import { store } from './exports.js';

/** The job if it is still to be run (queued, or running when a previous attempt was cut off). */
function activeJob(jobs: ExportStore, exportId: string): ExportRow | null {
  const row = jobs.get(exportId);
  return row && (row.state === 'queued' || row.state === 'running') ? row : null;
}

/** A part smaller than this many batches is not worth a worker of its own. */
const MIN_BATCHES_PER_PART = 4;

export interface PlanExportInput extends TaskBase {
  exportId: string;
  /** At most this many parts (the workers that may encode it at once). */
  maxParts: number;
  batchRows: number;
}

/**
 * Starts an attempt: on the first one, cuts the job into parts of about equal rows (one when it is small,
 * or when its filters need a sort: the cut points come from the ordered index scan); returns the parts
 * still to encode.
 */
export const planExport = defineTask('planExport', (ctx, input: PlanExportInput): PlanExportResult => {
  const jobs = store(ctx, input.tenantId);
  const row = activeJob(jobs, input.exportId);
  if (!row) return { state: 'skipped' };
  if (jobs.parts(row.export_id).length === 0) {
    const spec = jobs.specOf(row);
    const cuts = cutPoints(ctx, input, spec);
    ctx.lock.withLock(input.tenantId, () => jobs.plan(row.export_id, cuts));
    ctx.log.info({ export_id: row.export_id, parts: cuts.length + 1 }, 'export planned');
  }
  ctx.lock.withLock(input.tenantId, () => jobs.begin(row.export_id));
  const parts = jobs.parts(row.export_id);
  const resumedFromRows = parts.reduce((sum, p) => sum + p.at.rows, 0);
  ctx.log.info(
    {
      export_id: row.export_id,
      format: row.format,
      parts: parts.length,
      resumed_from_rows: resumedFromRows,
    },
    resumedFromRows > 0 ? 'export resumed from checkpoint' : 'export started',
  );
  return { state: 'planned', parts: parts.filter((p) => !p.done).map((p) => p.part), resumedFromRows };
});

/** The last row of each part but the last, for `parts` parts of about equal rows. */
function cutPoints(ctx: TaskContext, input: PlanExportInput, spec: ExportSpec): OrderPosition[] {
  if (input.maxParts <= 1 || needsSort(spec.filters)) return [];
  const db = openShardReader(ctx.data.dataDir, input.tenantId);
  try {
    const count = buildCountSql(spec.filters);
    const at = buildPositionAtSql(spec.filters);
    const position = db.prepare(at.sql);
    // one read transaction: the count and the positions see the same rows
    return db.transaction(() => {
      const rows = (db.prepare(count.sql).get(...count.params) as { n: number }).n;
      const parts = Math.min(input.maxParts, Math.floor(rows / (input.batchRows * MIN_BATCHES_PER_PART)));
      const cuts: OrderPosition[] = [];
      for (let k = 1; k < parts; k++)
        cuts.push(position.get(...at.params, Math.floor((rows * k) / parts) - 1) as OrderPosition);
      return cuts;
    })();
  } finally {
    db.close();
  }
}

export interface RunExportPartInput extends TaskBase {
  exportId: string;
  part: number;
  batchRows: number;
  /** 0 = unlimited. Paces this part so the job leaves room for interactive work. */
  maxRowsPerSecond: number;
  /** Int32 flag the main thread raises (shutdown, or another part failed): stop after the current checkpoint. */
  stop: SharedArrayBuffer;
}

function writeAll(fd: number, bytes: Uint8Array, position: number): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, position + done);
}

/**
 * Encodes (or resumes) one part. Its file is cut back to the part's last checkpoint and the keyset scan
 * restarts after the checkpoint's key, so finished batches are neither re-read nor re-encoded. Each batch
 * is appended, fdatasync'ed, and only then checkpointed (rows, bytes, key, row groups) in one transaction:
 * a crash between the two leaves bytes past the checkpoint, which the next attempt truncates.
 */
export const runExportPart = defineTask(
  'runExportPart',
  async (ctx, input: RunExportPartInput): Promise<ExportPartResult> => {
    const jobs = store(ctx, input.tenantId);
    const row = activeJob(jobs, input.exportId);
    const part = row && jobs.part(row.export_id, input.part);
    if (!row || !part) return { state: 'skipped' };
    if (part.done) return { state: 'done', rows: 0 };
    const spec = jobs.specOf(row);
    const path = exportPartPath(ctx.data.dataDir, input.tenantId, row, input.part);
    const stop = new Int32Array(input.stop);
    const db = openShardReader(ctx.data.dataDir, input.tenantId);
    let fd: number | null = null;
    let at = part.at;
    let encodedRows = 0;
    let encodeMs = 0;
    let releaseEncoder = () => {};
    const started = performance.now();
    try {
      const encoder = await createExportEncoder(spec.format, spec.compression, spec.fields);
      releaseEncoder = () => releaseExportEncoder(encoder);
      const setupMs = performance.now() - started;
      mkdirSync(dirname(path), { recursive: true });
      if (at.bytes === 0) {
        fd = openSync(path, 'w');
        // the file's opening bytes belong to part 0; they are checkpointed with its first batch
        if (input.part === 0) {
          const header = encoder.header();
          writeAll(fd, header, 0);
          at = { ...at, bytes: header.length };
        }
      } else {
        fd = openSync(path, 'r+');
        ftruncateSync(fd, at.bytes);
      }
      const checkpointed = { rows: part.at.rows, bytes: part.at.bytes };
      const paceStart = performance.now();
      const batches = exportBatches(db, spec.filters, spec.fields, at.position, input.batchRows, part.floor);
      for (const page of batches) {
        const encodeStart = performance.now();
        const batch = ctx.obs.timeQuery(`export_encode:${spec.format}`, () => encoder.encode(page, at.bytes));
        encodeMs += performance.now() - encodeStart;
        const position = page.positionAfter();
        if (position === null) break; // the part ended on a full page: this last one is empty
        writeAll(fd, batch.bytes, at.bytes);
        fdatasyncSync(fd);
        at = { rows: at.rows + batch.rows, bytes: at.bytes + batch.bytes.length, position };
        const checkpoint = at;
        const added = { rows: at.rows - checkpointed.rows, bytes: at.bytes - checkpointed.bytes };
        ctx.lock.withLock(input.tenantId, () =>
          jobs.checkpoint(row.export_id, input.part, checkpoint, added, batch.rowGroups),
        );
        checkpointed.rows = at.rows;
        checkpointed.bytes = at.bytes;
        encodedRows += batch.rows;
        ctx.obs.record('export_rows_total', { format: spec.format }, batch.rows);
        ctx.obs.record('export_bytes_total', { format: spec.format }, batch.bytes.length);
        if (Atomics.load(stop, 0) !== 0) {
          ctx.log.info(
            { export_id: row.export_id, part: input.part, rows: at.rows },
            'export part paused at a checkpoint',
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
      if (checkpointed.bytes !== at.bytes) {
        // a part 0 with no rows: its header still has to be recorded
        const header = at;
        ctx.lock.withLock(input.tenantId, () =>
          jobs.checkpoint(row.export_id, input.part, header, { rows: 0, bytes: header.bytes }, []),
        );
      }
      fdatasyncSync(fd);
      ctx.lock.withLock(input.tenantId, () => jobs.partDone(row.export_id, input.part));
      ctx.log.info(
        {
          export_id: row.export_id,
          part: input.part,
          rows: encodedRows,
          bytes: at.bytes,
          ms: Math.round(performance.now() - started),
          encode_ms: Math.round(encodeMs),
          setup_ms: Math.round(setupMs),
        },
        'export part done',
      );
      return { state: 'done', rows: encodedRows };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      ctx.log.error({ err: error, export_id: row.export_id, part: input.part }, 'export part failed');
      return { state: 'failed', error: message };
    } finally {
      releaseEncoder();
      if (fd !== null) closeSync(fd);
      db.close();
    }
  },
);

export interface FinishExportInput extends TaskBase {
  exportId: string;
  retentionMs: number;
  /** When the attempt began (epoch ms), for its duration. */
  startedAt: number;
}

/**
 * Joins the finished parts into the export file: the other parts' bytes appended to part 0's file, then the
 * trailer (for Parquet, the footer over every part's row groups, each moved to where its part landed);
 * hashed on the way, fdatasync'ed, and only then the job is marked complete and the part files removed.
 */
export const finishExport = defineTask(
  'finishExport',
  async (ctx, input: FinishExportInput): Promise<FinishExportResult> => {
    const jobs = store(ctx, input.tenantId);
    const row = activeJob(jobs, input.exportId);
    if (!row) return { state: 'skipped' };
    const parts = jobs.parts(row.export_id);
    if (parts.length === 0 || parts.some((p) => !p.done))
      return { state: 'failed', error: 'export parts are not all done' };
    const spec = jobs.specOf(row);
    const pieces = parts.map((p) => ({
      path: exportPartPath(ctx.data.dataDir, input.tenantId, row, p.part),
      bytes: p.at.bytes,
    }));
    const rowGroups: Uint8Array[] = [];
    let offset = 0;
    for (const p of parts) {
      for (const meta of jobs.rowGroups(row.export_id, p.part)) rowGroups.push(shiftRowGroup(meta, offset));
      offset += p.at.bytes;
    }
    const started = performance.now();
    const encoder = await createExportEncoder(spec.format, spec.compression, spec.fields);
    const trailer = encoder.trailer(rowGroups);
    releaseExportEncoder(encoder);
    const { size, sha256 } = await joinFiles(pieces, trailer);
    const rows = parts.reduce((sum, p) => sum + p.at.rows, 0);
    ctx.lock.withLock(input.tenantId, () =>
      jobs.complete(row.export_id, size, sha256, Date.now(), input.retentionMs),
    );
    for (const piece of pieces.slice(1)) rmSync(piece.path, { force: true });
    const seconds = (Date.now() - input.startedAt) / 1000;
    ctx.obs.record('export_duration_seconds', { format: spec.format }, seconds);
    ctx.log.info(
      {
        export_id: row.export_id,
        rows,
        size,
        parts: parts.length,
        seconds,
        join_ms: Math.round(performance.now() - started),
        shape: filterShape(spec.filters),
      },
      'export complete',
    );
    return { state: 'complete', rows, size };
  },
);

export interface FailExportInput extends TaskBase {
  exportId: string;
  error: string;
}

/** Marks the job failed and removes its files (every part's). */
export const failExport = defineTask('failExport', (ctx, input: FailExportInput): void => {
  const jobs = store(ctx, input.tenantId);
  const row = activeJob(jobs, input.exportId);
  if (!row) return;
  const parts = jobs.parts(row.export_id);
  ctx.lock.withLock(input.tenantId, () => jobs.fail(row.export_id, input.error, Date.now()));
  for (const p of parts.length ? parts : [{ part: 0 }])
    rmSync(exportPartPath(ctx.data.dataDir, input.tenantId, row, p.part), { force: true });
  ctx.log.error({ export_id: row.export_id, error: input.error }, 'export failed');
});

/** Waits `ms` (the export's pacing), waking early when the stop flag is raised. */
async function pausedUntil(ms: number, stop: Int32Array): Promise<void> {
  const until = performance.now() + ms;
  while (Atomics.load(stop, 0) === 0 && performance.now() < until)
    await sleep(Math.min(100, until - performance.now()));
}
