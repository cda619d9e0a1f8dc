import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { type ExportSpec, exportStreamTrailer } from '../src/domain/export.js';
import { type ExportQuota, exportOverQuota, type Quoted } from '../src/domain/quota.js';
import { createExportEncoder, releaseExportEncoder } from '../src/formats/export-encoder.js';
import { appendSum, deflatePart, EMPTY_SUM, GZIP_HEADER, type GzipSum } from '../src/formats/gzip-parts.js';
import type { StreamTaskBase, TaskBase } from '../src/pool/protocol.js';
import type { StripeRange } from '../src/pool/striped-stream.js';
import { exportBatches } from '../src/storage/export-batches.js';
import { type ExportRow, ExportStore, exportFilePath } from '../src/storage/export-store.js';
import { orphanedExports, PgExportStore } from '../src/storage/postgres/exports.js';
import { pgKeysetPages } from '../src/storage/postgres/search-rows.js';
import { openShardReader } from '../src/storage/shards.js';
import { onPostgres, withPostgres, workerPostgres } from '../src/worker/postgres.js';
import { defineStreamTask, defineTask, type TaskContext } from '../src/worker/worker-context.js';

export function store(ctx: TaskContext, tenantId: number): ExportStore {
  return new ExportStore(ctx.shards.db(tenantId));
}

export interface CreateExportInput extends TaskBase {
  spec: ExportSpec;
  limits: { jobs: number; bytes: number };
  /** the server that creates the job runs it (PostgreSQL: until its heartbeat stops) */
  bootId: string;
}

/** Creates a queued job, unless the tenant is at its quota of jobs or kept bytes (checked under the lock). */
export const createExport = defineTask(
  'createExport',
  (
    ctx,
    input: CreateExportInput,
  ): Quoted<ExportRow, ExportQuota> | Promise<Quoted<ExportRow, ExportQuota>> => {
    const exportId = `exp_${randomBytes(12).toString('base64url')}`;
    if (onPostgres(ctx))
      return pgExports(ctx, input.tenantId, 'export_create', (jobs) =>
        jobs.create(exportId, input.spec, Date.now(), input.limits, input.bootId),
      );
    return ctx.lock.withLock(input.tenantId, () => {
      const exports = store(ctx, input.tenantId);
      const over = exportOverQuota(exports.usage(), input.limits);
      if (over) return { ok: false, ...over };
      return { ok: true, value: exports.insert(exportId, input.spec, Date.now()) };
    });
  },
);

/** Runs `work` on the tenant's exports in PostgreSQL, timed as `query` (the SQLite side: `store`). */
export function pgExports<T>(
  ctx: TaskContext,
  tenantId: number,
  query: string,
  work: (jobs: PgExportStore) => Promise<T>,
): Promise<T> {
  return withPostgres(ctx, query, (client) => work(new PgExportStore(client, tenantId)));
}

export interface ExportLookupInput extends TaskBase {
  exportId: string;
}

export const getExport = defineTask(
  'getExport',
  async (ctx, input: ExportLookupInput): Promise<ExportRow | null> =>
    (onPostgres(ctx)
      ? await pgExports(ctx, input.tenantId, 'export_get', (jobs) => jobs.get(input.exportId))
      : store(ctx, input.tenantId).get(input.exportId)) ?? null,
);

export interface ListExportsInput extends TaskBase {
  before: number | null;
  limit: number;
}

export const listExports = defineTask('listExports', (ctx, input: ListExportsInput) =>
  onPostgres(ctx)
    ? pgExports(ctx, input.tenantId, 'export_list', (jobs) => jobs.list(input.before, input.limit))
    : store(ctx, input.tenantId).list(input.before, input.limit),
);

/**
 * Unfinished jobs of one tenant, oldest first: what a starting server resumes (PostgreSQL: those no live
 * server runs).
 */
export const unfinishedExports = defineTask(
  'unfinishedExports',
  async (ctx, input: TaskBase): Promise<string[]> =>
    onPostgres(ctx)
      ? (await orphanedExports(await workerPostgres(), input.tenantId)).map((j) => j.exportId)
      : store(ctx, input.tenantId)
          .unfinished()
          .map((r) => r.export_id),
);

/** Marks due exports expired and deletes their files (their rows of bytes on PostgreSQL). */
export const expireExports = defineTask(
  'expireExports',
  async (ctx, input: TaskBase & { now: number }): Promise<string[]> => {
    let due: ExportRow[];
    if (onPostgres(ctx)) {
      // the bytes go with the rows, in the same transaction
      due = await pgExports(ctx, input.tenantId, 'export_expire', (jobs) => jobs.expireDue(input.now));
    } else {
      due = ctx.lock.withLock(input.tenantId, () => store(ctx, input.tenantId).expireDue(input.now));
      for (const row of due)
        removeExportFiles(
          exportFilePath(ctx.data.dataDir, input.tenantId, row.export_id, row.format, row.compression),
        );
    }
    if (due.length) ctx.log.info({ export_ids: due.map((r) => r.export_id) }, 'exports expired');
    return due.map((r) => r.export_id);
  },
);

/**
 * Removes an export's file and any part files left beside it (a crash between marking a job complete and
 * removing its parts leaves them; they go with the file).
 */
function removeExportFiles(path: string): void {
  const dir = dirname(path);
  const parts = `${basename(path)}.part`;
  for (const name of existsSync(dir) ? readdirSync(dir) : [])
    if (name.startsWith(parts)) rmSync(join(dir, name), { force: true });
  rmSync(path, { force: true }); // last: once the file is gone, so are its parts
}

export interface StreamExportInput extends StreamTaskBase {
  spec: ExportSpec;
  batchRows: number;
  /** The stripe of the export this task streams (the whole export: nulls). */
  range: StripeRange;
  /** Whether it opens the file (the first stripe writes the header). */
  header: boolean;
  /**
   * Content-Encoding gzip: the stripe deflates what it writes as one part of a single gzip member
   * (src/formats/gzip-parts.ts); the first stripe writes the member's header, the joiner its closing.
   */
  transferGzip: boolean;
}

/**
 * How a stripe of a direct export ended: its rows, its bytes before any transfer encoding, for Parquet its
 * row groups (offsets from its start) and, when gzip-encoded, the CRC-32 and length of what it deflated.
 */
export interface StreamExportMeta {
  rows: number;
  bytes: number;
  rowGroups: Uint8Array[];
  gzip: GzipSum | null;
}

/**
 * One stripe of an export sent as the response itself (src/http/export-stream.ts joins the stripes): the
 * same encoder as the jobs, batches written to the socket as it takes them. The file's closing bytes come
 * from exportTrailer, once every stripe is in.
 */
export const streamExport = defineStreamTask(
  'streamExport',
  async (ctx, input: StreamExportInput, sink): Promise<StreamExportMeta> => {
    const { spec, range } = input;
    const encoder = await createExportEncoder(spec.format, spec.compression, spec.fields);
    const db = onPostgres(ctx) ? null : openShardReader(ctx.data.dataDir, input.tenantId);
    let rows = 0;
    let bytes = 0;
    let gzip: GzipSum | null = input.transferGzip ? EMPTY_SUM : null;
    const rowGroups: Uint8Array[] = [];
    const write = async (data: Uint8Array) => {
      bytes += data.length;
      if (!gzip) return sink.writeBytes(data);
      const part = deflatePart(data);
      gzip = appendSum(gzip, part);
      await sink.writeBytes(part.bytes);
    };
    try {
      if (input.header) {
        if (input.transferGzip) await sink.writeBytes(GZIP_HEADER);
        await write(encoder.header());
      }
      const batches = db
        ? exportBatches(db, spec.filters, spec.fields, range.after, input.batchRows, range.floor)
        : pgKeysetPages(
            await workerPostgres(),
            input.tenantId,
            spec.filters,
            spec.fields,
            range.after,
            -1,
            range.floor,
            input.batchRows,
          );
      for await (const batch of batches) {
        const encoded = encoder.encode(batch, bytes);
        if (encoded.rows === 0) break; // the stripe ended on a full page: this last one is empty
        await write(encoded.bytes);
        rows += encoded.rows;
        rowGroups.push(...encoded.rowGroups.map((g) => g.meta));
      }
    } finally {
      releaseExportEncoder(encoder);
      db?.close();
      ctx.obs.record('stream_rows_total', { route: 'export_stream' }, rows);
    }
    return { rows, bytes, rowGroups, gzip };
  },
  // a gzip-encoded stream cannot carry plain text: cut short, its member has no closing, which every
  // client reports as a damaged body
  (failure, input) => (input.transferGzip ? '' : exportStreamTrailer(input.spec.format, failure)),
);

export interface ExportTrailerInput extends TaskBase {
  spec: ExportSpec;
  /** Every stripe's row groups, already moved to where the stripe landed in the file. */
  rowGroups: Uint8Array[];
}

/** The closing bytes of a direct export (the Parquet footer over every row group; nothing for CSV). */
export const exportTrailer = defineTask(
  'exportTrailer',
  async (_ctx, input: ExportTrailerInput): Promise<Uint8Array> => {
    const { spec } = input;
    const encoder = await createExportEncoder(spec.format, spec.compression, spec.fields);
    try {
      return encoder.trailer(input.rowGroups);
    } finally {
      releaseExportEncoder(encoder);
    }
  },
);
