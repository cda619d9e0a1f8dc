import { rmSync } from 'node:fs';
import type { ChunkSummary } from '../src/domain/ingest-kinds.js';
import type { RowError } from '../src/domain/order-schema.js';
import { failureRecorder, type UploadChunkInput, writeRows } from '../src/pool/ingest-chunk.js';
import type { TaskBase } from '../src/pool/protocol.js';
import { decodeRows } from '../src/pool/row-transfer.js';
import { defineTask, type TaskContext } from '../src/pool/worker-context.js';
import { stagingPath, type UploadRow, UploadStore } from '../src/storage/upload-store.js';
import { logWritten } from './ingest.js';

function store(ctx: TaskContext, tenantId: number): UploadStore {
  return new UploadStore(ctx.shards.db(tenantId));
}

export interface UploadInput extends TaskBase {
  uploadId: string;
}

export const createUpload = defineTask(
  'createUpload',
  (ctx, input: UploadInput & { length: number | null; metadata: Record<string, string>; ttlMs: number }) =>
    ctx.lock.withLock(input.tenantId, () => {
      const uploads = store(ctx, input.tenantId);
      uploads.create(input.uploadId, input.length, input.metadata, Date.now(), input.ttlMs);
      return uploads.get(input.uploadId)!;
    }),
);

export const getUpload = defineTask(
  'getUpload',
  (ctx, input: UploadInput): UploadRow | null => store(ctx, input.tenantId).get(input.uploadId) ?? null,
);

export const uploadErrors = defineTask(
  'uploadErrors',
  (ctx, input: UploadInput & { limit: number }): RowError[] =>
    store(ctx, input.tenantId).errors(input.uploadId, input.limit),
);

export const recordReceived = defineTask(
  'recordReceived',
  (ctx, input: UploadInput & { offset: number; length: number | null; ttlMs: number }): UploadRow =>
    ctx.lock.withLock(input.tenantId, () =>
      store(ctx, input.tenantId).received(
        input.uploadId,
        input.offset,
        input.length,
        Date.now(),
        input.ttlMs,
      ),
    ),
);

export const finishUpload = defineTask(
  'finishUpload',
  (ctx, input: UploadInput & { state: 'complete' | 'failed' | 'terminated'; error: string | null }) => {
    ctx.lock.withLock(input.tenantId, () =>
      store(ctx, input.tenantId).finish(input.uploadId, input.state, input.error, Date.now()),
    );
    // the staging file has served its purpose (complete) or will never be used again
    rmSync(stagingPath(ctx.data.dataDir, input.tenantId, input.uploadId), { force: true });
    return true;
  },
);

export const unfinishedUploads = defineTask('unfinishedUploads', (ctx, input: TaskBase): UploadRow[] =>
  store(ctx, input.tenantId).unfinished(),
);

export const expireUploads = defineTask(
  'expireUploads',
  (ctx, input: TaskBase & { now: number }): string[] => {
    const due = ctx.lock.withLock(input.tenantId, () => store(ctx, input.tenantId).expireDue(input.now));
    for (const row of due)
      rmSync(stagingPath(ctx.data.dataDir, input.tenantId, row.upload_id), { force: true });
    if (due.length) ctx.log.info({ upload_ids: due.map((r) => r.upload_id) }, 'abandoned uploads expired');
    return due.map((r) => r.upload_id);
  },
);

/**
 * One chunk of an upload, parsed and validated by ingestParse in the pool; this runs on the shard's writer
 * lane. In ONE transaction under the shard lock it inserts the rows, records every row error and moves the
 * upload's cursor past the chunk. A crash before the commit leaves neither rows nor cursor; after it,
 * both. So processing resumes exactly after the last committed chunk.
 */
export const ingestUploadChunk = defineTask(
  'ingestUploadChunk',
  (ctx, input: UploadChunkInput): ChunkSummary => {
    const started = performance.now();
    const valid = decodeRows(input.kind, input.rows);
    const summary = { ...input.parsed, errors: [...input.parsed.errors] };
    const fail = failureRecorder(ctx, summary, input.maxErrors);
    const db = ctx.shards.db(input.tenantId);
    const uploads = store(ctx, input.tenantId);
    ctx.lock.withLock(input.tenantId, () =>
      ctx.obs.timeQuery(`upload_${input.kind}_chunk`, () =>
        db.transaction(() => {
          const row = uploads.get(input.uploadId);
          if (!row || row.state === 'terminated') return; // terminated meanwhile: nothing more is written
          writeRows(ctx, input.tenantId, input.kind, valid, summary, fail);
          uploads.advance(
            input.uploadId,
            { processedOffset: input.endOffset, linesSeen: input.firstLine - 1 + input.lines },
            summary,
            Date.now(),
          );
        })(),
      ),
    );
    ctx.obs.record('ingest_rows_total', { table: input.kind }, summary.inserted);
    logWritten(ctx, input, summary, started);
    return { ...summary, errors: summary.errors.slice(0, 10) };
  },
);
