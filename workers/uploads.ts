import { rmSync } from 'node:fs';
import type { RowError } from '../src/domain/order-schema.js';
import { firstExceeded, type Quoted, type UploadQuota } from '../src/domain/quota.js';
import type { TaskBase } from '../src/pool/protocol.js';
import { stagingPath, type UploadRow, UploadStore } from '../src/storage/upload-store.js';
import { defineTask, type TaskContext } from '../src/worker/worker-context.js';

function store(ctx: TaskContext, tenantId: number): UploadStore {
  return new UploadStore(ctx.shards.db(tenantId));
}

export interface UploadInput extends TaskBase {
  uploadId: string;
}

/** Creates an upload, unless the tenant is at its quota of open uploads or declared bytes (under the lock). */
export const createUpload = defineTask(
  'createUpload',
  (
    ctx,
    input: UploadInput & {
      length: number | null;
      metadata: Record<string, string>;
      ttlMs: number;
      limits: { uploads: number; bytes: number };
    },
  ): Quoted<UploadRow, UploadQuota> =>
    ctx.lock.withLock(input.tenantId, () => {
      const uploads = store(ctx, input.tenantId);
      const use = uploads.usage();
      const over = firstExceeded<UploadQuota>({
        uploads: { used: use.open, limit: input.limits.uploads, adding: 1 },
        bytes: { used: use.declaredBytes, limit: input.limits.bytes, adding: input.length ?? 0 },
      });
      if (over) return { ok: false, ...over };
      uploads.create(input.uploadId, input.length, input.metadata, Date.now(), input.ttlMs);
      return { ok: true, value: uploads.get(input.uploadId)! };
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
