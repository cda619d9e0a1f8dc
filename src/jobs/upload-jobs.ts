import { mkdir, open, rm, truncate } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { ByteBudget } from '../domain/byte-budget.js';
import { BodyError } from '../ingest/body-error.js';
import type { ShardWriteQueue } from '../ingest/write-queue.js';
import type { Logger } from '../obs/logger.js';
import type { WorkerPool } from '../pool/pool.js';
import { storageFault } from '../storage/storage-fault.js';
import { stagingPath, type UploadRow } from '../storage/upload-store.js';
import { type Appended, appendBody } from '../uploads/append-body.js';
import { startTenantSweep } from './tenant-sweep.js';
import { type ActiveUpload, processStagedUpload, type UploadConfig } from './upload-processor.js';

/** Received bytes are made durable (fdatasync + offset committed, in the background) this often within one PATCH. */
const DURABLE_EVERY = 32 * 1024 * 1024;

/** How long an upload whose processing hit a full disk waits before it tries again. */
const RETRY_AFTER_STORAGE_FAILURE_MS = 5000;

/**
 * The tus uploads of this server: their staging files, the PATCH appends, one processor per upload that
 * ingests it while it arrives (src/jobs/upload-processor.ts), retries after storage failures, resumption
 * at start and the expiry sweep.
 */
export class UploadJobs {
  private readonly active = new Map<string, ActiveUpload>();
  private stopped = false;

  private readonly pool: WorkerPool;
  private readonly writes: ShardWriteQueue;
  private readonly config: UploadConfig;
  private readonly log: Logger;
  private readonly tenantIds: () => readonly number[];
  private readonly budget: Pick<ByteBudget, 'reserve' | 'release'>;

  constructor(init: {
    pool: WorkerPool;
    writes: ShardWriteQueue;
    config: UploadConfig;
    log: Logger;
    /** The tenants now (tenants are created while the server runs). */
    tenantIds: () => readonly number[];
    /** Chunk bytes between cut and commit: uploads share ingest's bound and count toward its admission. */
    budget: Pick<ByteBudget, 'reserve' | 'release'>;
  }) {
    ({
      pool: this.pool,
      writes: this.writes,
      config: this.config,
      log: this.log,
      tenantIds: this.tenantIds,
      budget: this.budget,
    } = init);
  }

  get ttlMs(): number {
    return this.config.upload.expiryS * 1000;
  }

  stagingPath(tenantId: number, uploadId: string): string {
    return stagingPath(this.config.server.dataDir, tenantId, uploadId);
  }

  async createStaging(tenantId: number, uploadId: string): Promise<void> {
    const path = this.stagingPath(tenantId, uploadId);
    await mkdir(dirname(path), { recursive: true });
    const file = await open(path, 'w');
    await file.sync();
    await file.close();
  }

  /** Removes a staging file made for an upload that was then refused. */
  async dropStaging(tenantId: number, uploadId: string): Promise<void> {
    await rm(this.stagingPath(tenantId, uploadId), { force: true });
  }

  /** The in-memory record of an unfinished upload (loaded on first use). */
  track(row: UploadRow, tenantId: number): ActiveUpload {
    let upload = this.active.get(row.upload_id);
    if (!upload) {
      upload = {
        tenantId,
        uploadId: row.upload_id,
        received: row.received_offset,
        length: row.upload_length,
        metadata: JSON.parse(row.metadata) as Record<string, string>,
        writing: false,
        stopped: false,
        wake: () => {},
        processing: null,
      };
      this.active.set(row.upload_id, upload);
    }
    const unfinished = row.state === 'receiving' || row.state === 'processing';
    if (unfinished && !upload.processing && !this.stopped) {
      const started = upload;
      upload.processing = this.process(started, row).finally(() => this.active.delete(started.uploadId));
    }
    return upload;
  }

  get(uploadId: string): ActiveUpload | undefined {
    return this.active.get(uploadId);
  }

  /**
   * Appends a PATCH body to the upload's staging file at `offset` (src/uploads/append-body.ts): made durable
   * and its offset committed every DURABLE_EVERY bytes in the background, and at the end. The caller
   * commits the final offset with `commitOffset`.
   */
  append(
    upload: ActiveUpload,
    body: AsyncIterable<Buffer>,
    offset: number,
    length: number | null,
  ): Promise<Appended> {
    return appendBody(body, {
      path: this.stagingPath(upload.tenantId, upload.uploadId),
      offset,
      length,
      durableEvery: DURABLE_EVERY,
      commit: async (at) => {
        await this.commitOffset(upload, at, length);
      },
    });
  }

  /** After a PATCH made bytes durable: record them (the offset HEAD reports), then let the processor read them. */
  async commitOffset(upload: ActiveUpload, offset: number, length: number | null): Promise<UploadRow> {
    const row = await this.pool.run('recordReceived', {
      requestId: `upload:${upload.uploadId}`,
      tenantId: upload.tenantId,
      uploadId: upload.uploadId,
      offset,
      length,
      ttlMs: this.ttlMs,
    });
    upload.received = row.received_offset;
    upload.length = row.upload_length;
    upload.wake();
    return row;
  }

  async terminate(upload: ActiveUpload): Promise<void> {
    upload.stopped = true;
    upload.wake();
    await upload.processing;
    await this.finish(upload, 'terminated', null);
  }

  private async finish(
    upload: ActiveUpload,
    state: 'complete' | 'failed' | 'terminated',
    error: string | null,
  ) {
    await this.pool.run('finishUpload', {
      requestId: `upload:${upload.uploadId}`,
      tenantId: upload.tenantId,
      uploadId: upload.uploadId,
      state,
      error,
    });
  }

  /** The staging bytes as they become durable; calls `idle` each time it has caught up and must wait. */
  private async process(upload: ActiveUpload, row: UploadRow): Promise<void> {
    const { tenantId, uploadId } = upload;
    const log = this.log.child({ tenant_id: tenantId, upload_id: uploadId });
    try {
      const finished = await processStagedUpload(
        {
          pool: this.pool,
          writes: this.writes,
          config: this.config,
          budget: this.budget,
          stagingPath: this.stagingPath(tenantId, uploadId),
          log,
        },
        upload,
        row,
      );
      if (!finished) return;
      await this.finish(upload, 'complete', null);
      log.info({ bytes: upload.received }, 'upload complete');
    } catch (error) {
      if (upload.stopped || this.stopped) return;
      if (storageFault(error) === 'disk_full' || storageFault(error) === 'busy') {
        // not the upload's fault: processing resumes from the committed cursor once the storage recovers
        log.error({ err: error }, 'upload processing paused: storage failure; retrying');
        this.retryLater(tenantId, uploadId);
        return;
      }
      const code =
        error instanceof BodyError ? error.code : ((error as { code?: string }).code ?? 'ingest_failed');
      log.warn({ err: error, code }, 'upload failed');
      await this.finish(upload, 'failed', `${code}: ${(error as Error).message}`).catch(() => {});
    }
  }

  /** Picks an upload up again after a pause (its row says where processing stands). */
  private retryLater(tenantId: number, uploadId: string): void {
    const timer = setTimeout(() => {
      if (this.stopped) return;
      this.pool
        .run('getUpload', { requestId: `upload:${uploadId}`, tenantId, uploadId })
        .then((row) => {
          if (row && !this.active.has(uploadId)) this.track(row, tenantId);
        })
        .catch(() => this.retryLater(tenantId, uploadId));
    }, RETRY_AFTER_STORAGE_FAILURE_MS);
    timer.unref();
  }

  private stopSweep: () => void = () => {};

  /**
   * At start: cut staging files back to their durable offsets, resume every unfinished upload, and start
   * the sweep that terminates uploads whose client went quiet past the expiry.
   */
  async resume(): Promise<void> {
    for (const tenantId of this.tenantIds()) {
      let rows: UploadRow[];
      try {
        rows = await this.pool.run('unfinishedUploads', { requestId: 'boot', tenantId });
      } catch (error) {
        this.log.error({ err: error, tenant_id: tenantId }, 'cannot read unfinished uploads; skipped');
        continue;
      }
      for (const row of rows) {
        if (this.active.has(row.upload_id)) continue; // already in use: its staging file is live
        await truncate(this.stagingPath(tenantId, row.upload_id), row.received_offset).catch(() => {});
        this.log.info(
          {
            tenant_id: tenantId,
            upload_id: row.upload_id,
            received: row.received_offset,
            processed: row.processed_offset,
          },
          'upload resumed',
        );
        this.track(row, tenantId);
      }
    }
    this.stopSweep = startTenantSweep({
      pool: this.pool,
      log: this.log,
      task: 'expireUploads',
      intervalMs: Math.min(60_000, this.ttlMs),
      tenantIds: this.tenantIds,
      onExpired: (ids) => {
        for (const id of ids) {
          const upload = this.active.get(id);
          if (upload) {
            upload.stopped = true;
            upload.wake();
          }
        }
      },
    });
  }

  /** Stops every processor; their cursors are committed, so the next start resumes them. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.stopSweep();
    for (const upload of this.active.values()) {
      upload.stopped = true;
      upload.wake();
    }
    await Promise.allSettled([...this.active.values()].map((u) => u.processing));
  }
}
