/**
 * Export jobs, step by step. A job is cut into parts (consecutive keyset ranges of about equal rows); each
 * part is encoded by its own worker into its own file with its own checkpoints, so a job uses as many cores
 * as it has parts; when every part is done the files are joined in order under one footer. Every step
 * can be cut off by a crash and run again: a part resumes from its checkpoint, the join starts over.
 */

import { setTimeout as sleep } from 'node:timers/promises';
import type { ExportPartResult, FinishExportResult, PlanExportResult } from '../src/domain/export.js';
import { filterShape } from '../src/domain/search.js';
import { createExportEncoder, releaseExportEncoder } from '../src/formats/export-encoder.js';
import { shiftRowGroup } from '../src/formats/parquet-assembly.js';
import type { TaskBase } from '../src/pool/protocol.js';
import { specOf } from '../src/storage/export-store.js';
import { defineTask } from '../src/worker/worker-context.js';
import { ExportClaimLost, exportJobStorage, type PartOutput } from './export-storage.js';

/** A part smaller than this many batches is not worth a worker of its own. */
const MIN_BATCHES_PER_PART = 4;

/** Every step of a job names the server running it (PostgreSQL: the only one that may write its state). */
export interface ExportStepInput extends TaskBase {
  exportId: string;
  bootId: string;
}

export interface PlanExportInput extends ExportStepInput {
  /** At most this many parts (the workers that may encode it at once). */
  maxParts: number;
  batchRows: number;
}

/**
 * Starts an attempt: on the first one, cuts the job into parts of about equal rows (one when it is small,
 * or when its filters need a sort: the cut points come from the ordered index scan); returns the parts
 * still to encode. Skipped when the job has ended, or (PostgreSQL) another live server runs it.
 */
export const planExport = defineTask(
  'planExport',
  async (ctx, input: PlanExportInput): Promise<PlanExportResult> => {
    const jobs = exportJobStorage(ctx, input.tenantId, input.bootId);
    const row = await jobs.active(input.exportId);
    if (!row || !(await jobs.claim(row.export_id))) return { state: 'skipped' };
    if ((await jobs.parts(row.export_id)).length === 0) {
      const cuts = await jobs.cutPoints(specOf(row), input.maxParts, input.batchRows * MIN_BATCHES_PER_PART);
      await jobs.plan(row.export_id, cuts);
      ctx.log.info({ export_id: row.export_id, parts: cuts.length + 1 }, 'export planned');
    }
    await jobs.begin(row.export_id);
    const parts = await jobs.parts(row.export_id);
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
  },
);

export interface RunExportPartInput extends ExportStepInput {
  part: number;
  batchRows: number;
  /** 0 = unlimited. Paces this part so the job leaves room for interactive work. */
  maxRowsPerSecond: number;
  /** Int32 flag the main thread raises (shutdown, or another part failed): stop after the current checkpoint. */
  stop: SharedArrayBuffer;
}

/**
 * Encodes (or resumes) one part. Its output is cut back to the part's last checkpoint and the keyset scan
 * restarts after the checkpoint's key, so finished batches are neither re-read nor re-encoded. Each batch
 * and its checkpoint (rows, bytes, key, row groups) become durable together (workers/export-storage.ts).
 */
export const runExportPart = defineTask(
  'runExportPart',
  async (ctx, input: RunExportPartInput): Promise<ExportPartResult> => {
    const jobs = exportJobStorage(ctx, input.tenantId, input.bootId);
    const row = await jobs.active(input.exportId);
    const part = row && (await jobs.parts(row.export_id)).find((p) => p.part === input.part);
    if (!row || !part) return { state: 'skipped' };
    if (part.done) return { state: 'done', rows: 0 };
    const spec = specOf(row);
    const stop = new Int32Array(input.stop);
    let output: PartOutput | null = null;
    let at = part.at;
    let encodedRows = 0;
    let encodeMs = 0;
    let releaseEncoder = () => {};
    const started = performance.now();
    try {
      const encoder = await createExportEncoder(spec.format, spec.compression, spec.fields);
      releaseEncoder = () => releaseExportEncoder(encoder);
      const setupMs = performance.now() - started;
      output = await jobs.openPart(row, part);
      // the file's opening bytes belong to part 0; they are committed with its first batch
      let pending = at.bytes === 0 && input.part === 0 ? encoder.header() : new Uint8Array(0);
      const paceStart = performance.now();
      for await (const page of jobs.pages(spec, at.position, part.floor, input.batchRows)) {
        const encodeStart = performance.now();
        const batch = ctx.obs.timeQuery(`export_encode:${spec.format}`, () =>
          encoder.encode(page, at.bytes + pending.length),
        );
        encodeMs += performance.now() - encodeStart;
        const position = page.positionAfter();
        if (position === null) break; // the part ended on a full page: this last one is empty
        const bytes = pending.length ? Buffer.concat([pending, batch.bytes]) : batch.bytes;
        pending = new Uint8Array(0);
        const next = { rows: at.rows + batch.rows, bytes: at.bytes + bytes.length, position };
        await output.commit({
          from: at.bytes,
          bytes,
          at: next,
          added: { rows: batch.rows, bytes: bytes.length },
          rowGroups: batch.rowGroups,
        });
        at = next;
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
      if (pending.length) {
        // a part 0 with no rows: its header still has to be recorded
        const header = { ...at, bytes: pending.length };
        await output.commit({
          from: 0,
          bytes: pending,
          at: header,
          added: { rows: 0, bytes: pending.length },
          rowGroups: [],
        });
        at = header;
      }
      await output.done();
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
      if (error instanceof ExportClaimLost) {
        // another server took the job over (this one was taken for dead): it goes on from the checkpoint
        ctx.log.warn({ export_id: row.export_id, part: input.part }, 'export part left to another server');
        return { state: 'interrupted', rows: at.rows };
      }
      const message = error instanceof Error ? error.message : String(error);
      ctx.log.error({ err: error, export_id: row.export_id, part: input.part }, 'export part failed');
      return { state: 'failed', error: message };
    } finally {
      releaseEncoder();
      output?.close();
    }
  },
);

export interface FinishExportInput extends ExportStepInput {
  retentionMs: number;
  /** When the attempt began (epoch ms), for its duration. */
  startedAt: number;
}

/**
 * Joins the finished parts into the export file: the other parts' bytes after part 0's, then the trailer
 * (for Parquet, the footer over every part's row groups, each moved to where its part landed); hashed on
 * the way, made durable, and only then the job is marked complete.
 */
export const finishExport = defineTask(
  'finishExport',
  async (ctx, input: FinishExportInput): Promise<FinishExportResult> => {
    const jobs = exportJobStorage(ctx, input.tenantId, input.bootId);
    const row = await jobs.active(input.exportId);
    if (!row) return { state: 'skipped' };
    const parts = await jobs.parts(row.export_id);
    if (parts.length === 0 || parts.some((p) => !p.done))
      return { state: 'failed', error: 'export parts are not all done' };
    const spec = specOf(row);
    const rowGroups: Uint8Array[] = [];
    let offset = 0;
    for (const p of parts) {
      for (const meta of await jobs.rowGroups(row.export_id, p.part))
        rowGroups.push(shiftRowGroup(meta, offset));
      offset += p.at.bytes;
    }
    const started = performance.now();
    const encoder = await createExportEncoder(spec.format, spec.compression, spec.fields);
    const trailer = encoder.trailer(rowGroups);
    releaseExportEncoder(encoder);
    const joined = await jobs.complete(row, parts, trailer, input.retentionMs);
    if (!joined) return { state: 'skipped' };
    const rows = parts.reduce((sum, p) => sum + p.at.rows, 0);
    const seconds = (Date.now() - input.startedAt) / 1000;
    ctx.obs.record('export_duration_seconds', { format: spec.format }, seconds);
    ctx.log.info(
      {
        export_id: row.export_id,
        rows,
        size: joined.size,
        parts: parts.length,
        seconds,
        join_ms: Math.round(performance.now() - started),
        shape: filterShape(spec.filters),
      },
      'export complete',
    );
    return { state: 'complete', rows, size: joined.size };
  },
);

export interface FailExportInput extends ExportStepInput {
  error: string;
}

/** Marks the job failed and removes what it wrote (every part's). */
export const failExport = defineTask('failExport', async (ctx, input: FailExportInput): Promise<void> => {
  const jobs = exportJobStorage(ctx, input.tenantId, input.bootId);
  const row = await jobs.active(input.exportId);
  if (!row) return;
  await jobs.fail(row, await jobs.parts(row.export_id), input.error);
  ctx.log.error({ export_id: row.export_id, error: input.error }, 'export failed');
});

/** Waits `ms` (the export's pacing), waking early when the stop flag is raised. */
async function pausedUntil(ms: number, stop: Int32Array): Promise<void> {
  const until = performance.now() + ms;
  while (Atomics.load(stop, 0) === 0 && performance.now() < until)
    await sleep(Math.min(100, until - performance.now()));
}
