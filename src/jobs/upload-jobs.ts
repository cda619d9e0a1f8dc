import type { ByteBudget } from '../domain/byte-budget.js';
import { BodyError } from '../ingest/body-error.js';
import type { ShardWriteQueue } from '../ingest/write-queue.js';
import type { Logger } from '../obs/logger.js';
import type { WorkerPool } from '../pool/pool.js';
import { storageFault } from '../storage/storage-fault.js';
import type { UnfinishedUpload, UploadRow } from '../storage/upload-store.js';
import type { Appended } from '../uploads/append-body.js';
import type { ActiveUpload, UploadStaging } from '../uploads/staging.js';
import { startPeriodic } from './periodic.js';
import { startTenantSweep } from './tenant-sweep.js';
import { processStagedUpload, type UploadConfig } from './upload-processor.js';

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
  private readonly staging: UploadStaging;
  private readonly bootId: string;
  private readonly adoptEveryMs: number | null;
  private readonly findUnfinished: () => Promise<UnfinishedUpload[]>;

  constructor(init: {
    pool: WorkerPool;
    writes: ShardWriteQueue;
    config: UploadConfig;
    log: Logger;
    /** The tenants now (tenants are created while the server runs). */
    tenantIds: () => readonly number[];
    /** Chunk bytes between cut and commit: uploads share ingest's bound and count toward its admission. */
    budget: Pick<ByteBudget, 'reserve' | 'release'>;
    /** where uploads' bytes wait: files (SQLite) or PostgreSQL */
    staging: UploadStaging;
    /** this server process: the processor of the uploads it claims */
    bootId: string;
    /**
     * Where other servers share the uploads (PostgreSQL): how often to look for uploads left by a server
     * that stopped, and process them here. Null with one server per data directory.
     */
    adoptEveryMs: number | null;
    /**
     * The unfinished uploads to process here, over every tenant at once (PostgreSQL: those no live server
     * processes). Without it, each tenant's are asked for in turn (SQLite: all of them, at start).
     */
    findUnfinished?: () => Promise<UnfinishedUpload[]>;
  }) {
    ({
      pool: this.pool,
      writes: this.writes,
      config: this.config,
      log: this.log,
      tenantIds: this.tenantIds,
      budget: this.budget,
      staging: this.staging,
      bootId: this.bootId,
      adoptEveryMs: this.adoptEveryMs,
    } = init);
    this.findUnfinished = init.findUnfinished ?? (() => this.unfinishedPerTenant());
  }

  get ttlMs(): number {
    return this.config.upload.expiryS * 1000;
  }

  /** Makes room for a new upload's bytes (a staging file; nothing on PostgreSQL). */
  createStaging(tenantId: number, uploadId: string): Promise<void> {
    return this.staging.create(tenantId, uploadId);
  }

  /** Removes what createStaging made, for an upload that was then refused. */
  dropStaging(tenantId: number, uploadId: string): Promise<void> {
    return this.staging.drop(tenantId, uploadId);
  }

  /**
   * The in-memory record of an unfinished upload (loaded on first use, brought up to what `row` says other
   * servers received), and its processing started here unless another live server processes it.
   */
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
    upload.received = Math.max(upload.received, row.received_offset);
    upload.length ??= row.upload_length;
    const unfinished = row.state === 'receiving' || row.state === 'processing';
    if (unfinished && !upload.processing && !this.stopped) {
      const started = upload;
      upload.processing = this.claimThenProcess(started, row).finally(() => {
        started.processing = null;
        if (this.active.get(started.uploadId) === started) this.active.delete(started.uploadId);
      });
    }
    return upload;
  }

  /**
   * Processes the upload here if this server may (always on SQLite; on PostgreSQL, unless another does).
   * One that already holds bytes is being resumed: after a restart, a storage failure, or from a server that
   * stopped.
   */
  private async claimThenProcess(upload: ActiveUpload, row: UploadRow): Promise<void> {
    const claimed = await this.pool
      .run('claimUpload', {
        requestId: `upload:${upload.uploadId}`,
        tenantId: upload.tenantId,
        uploadId: upload.uploadId,
        bootId: this.bootId,
      })
      .catch((error: unknown) => {
        this.log.warn({ err: error, upload_id: upload.uploadId }, 'claiming an upload failed; retrying');
        this.retryLater(upload.tenantId, upload.uploadId);
        return false;
      });
    if (!claimed) return;
    if (row.received_offset > 0)
      this.log.info(
        {
          tenant_id: upload.tenantId,
          upload_id: upload.uploadId,
          received: row.received_offset,
          processed: row.processed_offset,
        },
        'upload resumed',
      );
    await this.process(upload, row);
  }

  get(uploadId: string): ActiveUpload | undefined {
    return this.active.get(uploadId);
  }

  /**
   * Appends a PATCH body to the upload's staged bytes at `offset`: made durable and its offset committed at
   * least every DURABLE_EVERY bytes, and at the end. The caller commits the final offset with
   * `commitOffset`.
   */
  append(
    upload: ActiveUpload,
    body: AsyncIterable<Buffer>,
    offset: number,
    length: number | null,
  ): Promise<Appended> {
    return this.staging.append(upload, body, {
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
          staging: this.staging,
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
  private stopAdopting: () => void = () => {};

  /**
   * At start: cut staging files back to their durable offsets, resume every unfinished upload, and start
   * the sweep that terminates uploads whose client went quiet past the expiry; where servers share the
   * uploads, look for those a stopped server left every `adoptEveryMs`.
   */
  async resume(): Promise<void> {
    await this.adopt();
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
    if (this.adoptEveryMs !== null)
      this.stopAdopting = startPeriodic(this.adoptEveryMs, async () => {
        if (!this.stopped) await this.adopt();
      });
  }

  /** Each tenant's unfinished uploads, asked of its store in turn (a tenant that cannot answer is skipped). */
  private async unfinishedPerTenant(): Promise<UnfinishedUpload[]> {
    const found: UnfinishedUpload[] = [];
    for (const tenantId of this.tenantIds()) {
      try {
        const rows = await this.pool.run('unfinishedUploads', { requestId: 'boot', tenantId });
        for (const row of rows) found.push({ tenantId, row });
      } catch (error) {
        this.log.error({ err: error, tenant_id: tenantId }, 'cannot read unfinished uploads; skipped');
      }
    }
    return found;
  }

  /** Processes here the unfinished uploads nobody processes (SQLite: all of them, at start). */
  private async adopt(): Promise<void> {
    let unfinished: UnfinishedUpload[];
    try {
      unfinished = await this.findUnfinished();
    } catch (error) {
      this.log.error({ err: error }, 'cannot look for unfinished uploads');
      return;
    }
    for (const { tenantId, row } of unfinished) {
      if (this.stopped) return;
      if (this.active.get(row.upload_id)?.processing) continue; // already processed here
      await this.staging.restore(tenantId, row);
      this.track(row, tenantId);
    }
  }

  /** Stops every processor; their cursors are committed, so the next start resumes them. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.stopSweep();
    this.stopAdopting();
    for (const upload of this.active.values()) {
      upload.stopped = true;
      upload.wake();
    }
    await Promise.allSettled([...this.active.values()].map((u) => u.processing));
  }
}
