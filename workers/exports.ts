import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import type { ExportSpec } from '../src/domain/export.js';
import { type ExportQuota, firstExceeded, type Quoted } from '../src/domain/quota.js';
import { searchTrailer } from '../src/domain/search.js';
import { createExportEncoder, encodedFile } from '../src/formats/export-encoder.js';
import type { StreamTaskBase, TaskBase } from '../src/pool/protocol.js';
import { defineStreamTask, defineTask, type TaskContext } from '../src/pool/worker-context.js';
import { exportBatches } from '../src/storage/export-batches.js';
import { type ExportRow, ExportStore, exportFilePath } from '../src/storage/export-store.js';
import { shardPath } from '../src/storage/shards.js';
import { openDatabase } from '../src/storage/sqlite.js';

/** A read connection for one export (a job's part or a stream): a small private cache, since a scan reads each page about once. */
export function readConnection(ctx: TaskContext, tenantId: number) {
  return openDatabase(shardPath(ctx.data.dataDir, tenantId), { readonly: true, cacheMiB: 2 });
}

export function store(ctx: TaskContext, tenantId: number): ExportStore {
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
