import { rmSync } from 'node:fs';
import type { RowError } from '../src/domain/order-schema.js';
import type { Quoted, UploadQuota } from '../src/domain/quota.js';
import type { TaskBase } from '../src/pool/protocol.js';
import { PgUploadStore } from '../src/storage/postgres/uploads.js';
import { type NewUpload, stagingPath, type UploadRow, UploadStore } from '../src/storage/upload-store.js';
import { onPostgres, withPostgres } from '../src/worker/postgres.js';
import { defineTask, type TaskContext } from '../src/worker/worker-context.js';

function store(ctx: TaskContext, tenantId: number): UploadStore {
  return new UploadStore(ctx.shards.db(tenantId));
}

/**
 * Runs an upload task on the tenant's store: PostgreSQL's (src/storage/postgres/uploads.ts) when the server
 * keeps its data there, else the shard's, under the shard's write lock when `locked`.
 */
function onStore<T>(
  ctx: TaskContext,
  tenantId: number,
  options: { locked: boolean; rerunnable: boolean },
  sqlite: (uploads: UploadStore) => T,
  postgres: (uploads: PgUploadStore) => Promise<T>,
): T | Promise<T> {
  if (onPostgres(ctx))
    return withPostgres(ctx, 'uploads', (client) => postgres(new PgUploadStore(client, tenantId)), {
      rerunnable: options.rerunnable,
    });
  return options.locked
    ? ctx.lock.withLock(tenantId, () => sqlite(store(ctx, tenantId)))
    : sqlite(store(ctx, tenantId));
}

export interface UploadInput extends TaskBase {
  uploadId: string;
}

/** Creates an upload, unless the tenant is at its quota of open uploads or declared bytes (under the lock). */
export const createUpload = defineTask(
  'createUpload',
  (
    ctx,
    input: UploadInput & Omit<NewUpload, 'uploadId' | 'now'>,
  ): Quoted<UploadRow, UploadQuota> | Promise<Quoted<UploadRow, UploadQuota>> => {
    const upload: NewUpload = { ...input, now: Date.now() };
    return onStore(
      ctx,
      input.tenantId,
      { locked: true, rerunnable: false },
      (uploads) => uploads.create(upload),
      (uploads) => uploads.create(upload),
    );
  },
);

export const getUpload = defineTask(
  'getUpload',
  (ctx, input: UploadInput): UploadRow | null | Promise<UploadRow | null> =>
    onStore(
      ctx,
      input.tenantId,
      { locked: false, rerunnable: true },
      (uploads) => uploads.get(input.uploadId) ?? null,
      async (uploads) => (await uploads.get(input.uploadId)) ?? null,
    ),
);

export const uploadErrors = defineTask(
  'uploadErrors',
  (ctx, input: UploadInput & { limit: number }): RowError[] | Promise<RowError[]> =>
    onStore(
      ctx,
      input.tenantId,
      { locked: false, rerunnable: true },
      (uploads) => uploads.errors(input.uploadId, input.limit),
      (uploads) => uploads.errors(input.uploadId, input.limit),
    ),
);

export const recordReceived = defineTask(
  'recordReceived',
  (
    ctx,
    input: UploadInput & { offset: number; length: number | null; ttlMs: number },
  ): UploadRow | Promise<UploadRow> =>
    onStore(
      ctx,
      input.tenantId,
      { locked: true, rerunnable: true },
      (uploads) => uploads.received(input.uploadId, input.offset, input.length, Date.now(), input.ttlMs),
      (uploads) => uploads.received(input.uploadId, input.offset, input.length, Date.now(), input.ttlMs),
    ),
);

/**
 * Makes this server the upload's processor. On SQLite, one process per data directory: always. On
 * PostgreSQL, unless another live server processes it.
 */
export const claimUpload = defineTask(
  'claimUpload',
  (ctx, input: UploadInput & { bootId: string }): boolean | Promise<boolean> =>
    onStore(
      ctx,
      input.tenantId,
      { locked: false, rerunnable: true },
      () => true,
      (uploads) => uploads.claim(input.uploadId, input.bootId),
    ),
);

export const finishUpload = defineTask(
  'finishUpload',
  async (
    ctx,
    input: UploadInput & { state: 'complete' | 'failed' | 'terminated'; error: string | null },
  ): Promise<boolean> => {
    await onStore(
      ctx,
      input.tenantId,
      { locked: true, rerunnable: true },
      (uploads) => {
        uploads.finish(input.uploadId, input.state, input.error, Date.now());
        // the staging file has served its purpose (complete) or will never be used again
        rmSync(stagingPath(ctx.data.dataDir, input.tenantId, input.uploadId), { force: true });
      },
      // the bytes are deleted in the same transaction
      (uploads) => uploads.finish(input.uploadId, input.state, input.error, Date.now()),
    );
    return true;
  },
);

/** Unfinished uploads to resume here: every one on SQLite, those no live server processes on PostgreSQL. */
export const unfinishedUploads = defineTask(
  'unfinishedUploads',
  (ctx, input: TaskBase): UploadRow[] | Promise<UploadRow[]> =>
    onStore(
      ctx,
      input.tenantId,
      { locked: false, rerunnable: true },
      (uploads) => uploads.unfinished(),
      (uploads) => uploads.orphaned(),
    ),
);

export const expireUploads = defineTask(
  'expireUploads',
  async (ctx, input: TaskBase & { now: number }): Promise<string[]> => {
    const due = await onStore(
      ctx,
      input.tenantId,
      { locked: true, rerunnable: true },
      (uploads) => {
        const rows = uploads.expireDue(input.now);
        for (const row of rows)
          rmSync(stagingPath(ctx.data.dataDir, input.tenantId, row.upload_id), { force: true });
        return rows;
      },
      (uploads) => uploads.expireDue(input.now),
    );
    if (due.length) ctx.log.info({ upload_ids: due.map((r) => r.upload_id) }, 'abandoned uploads expired');
    return due.map((r) => r.upload_id);
  },
);
