import { mkdir, open, rm, truncate } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Config } from '../config/load.js';
import type { ByteBudget } from '../domain/byte-budget.js';
import { type LineChunk, LineChunker } from '../domain/line-chunker.js';
import { BodyError, decodeByMagic, decodeLimits, metered, sniffEncoding } from '../ingest/body-decoder.js';
import type { IngestChunkInput } from '../ingest/ingest-chunk.js';
import { parseThenWrite } from '../ingest/parse-then-write.js';
import { poolUnzipper } from '../ingest/unzipper.js';
import type { ShardWriteQueue } from '../ingest/write-queue.js';
import type { Logger } from '../obs/logger.js';
import type { WorkerPool } from '../pool/pool.js';
import { storageFault } from '../storage/storage-fault.js';
import { stagingPath, type UploadRow } from '../storage/upload-store.js';
import { startTenantSweep } from './tenant-sweep.js';

/** How long an upload whose processing hit a full disk waits before it tries again. */
const RETRY_AFTER_STORAGE_FAILURE_MS = 5000;

/** Staging-file reads feeding the processor. */
const READ_BYTES = 1 << 20;

/** What the main thread keeps about an upload that is receiving or processing. */
export interface ActiveUpload {
  tenantId: number;
  uploadId: string;
  /** Durable bytes in the staging file (what HEAD reports). */
  received: number;
  length: number | null;
  metadata: Record<string, string>;
  /** A PATCH is writing: a second one at the same time is refused. */
  writing: boolean;
  stopped: boolean;
  /** Wakes the processor when bytes arrive or the upload ends. */
  wake: () => void;
  processing: Promise<void> | null;
}

/**
 * Processes tus uploads while they arrive. A processor per upload tails its staging file up to the durable
 * offset, decodes it (plain, gzip or zip, like the single-request endpoint), cuts line-aligned chunks and
 * hands them to the pool one at a time; each chunk's rows and the upload's cursor commit together. After a
 * restart the processor starts at the committed cursor: a plain file is read from that offset, a compressed
 * one is decompressed from the start and the bytes before the cursor are skipped (never re-inserted).
 */
/** The option groups an upload's processing follows: ingest's chunking, the body limits, upload expiry. */
type UploadConfig = Pick<Config, 'server' | 'ingest' | 'body' | 'upload'>;

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

  /** After a PATCH made bytes durable: record them, then let the processor read them. */
  async received(upload: ActiveUpload, offset: number, length: number | null): Promise<UploadRow> {
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
  private async *staged(upload: ActiveUpload, from: number, idle: () => void): AsyncGenerator<Uint8Array> {
    const file = await open(this.stagingPath(upload.tenantId, upload.uploadId), 'r');
    let position = from;
    try {
      for (;;) {
        if (upload.stopped) return;
        const end = upload.received;
        // the first read waits for 4 bytes, enough to recognise gzip or zip by their magic
        const enough = position > 0 || end >= 4 || (upload.length !== null && end === upload.length);
        if (position < end && enough) {
          const buffer = Buffer.allocUnsafe(Math.min(READ_BYTES, end - position)); // fresh: the chunker keeps views
          const { bytesRead } = await file.read(buffer, 0, buffer.length, position);
          position += bytesRead;
          yield buffer.subarray(0, bytesRead);
          continue;
        }
        if (upload.length !== null && position >= upload.length) return;
        idle();
        await new Promise<void>((resolve) => {
          upload.wake = resolve;
        });
      }
    } finally {
      await file.close();
    }
  }

  private async process(upload: ActiveUpload, row: UploadRow): Promise<void> {
    const { tenantId, uploadId } = upload;
    const log = this.log.child({ tenant_id: tenantId, upload_id: uploadId });
    // Compressed if declared (Upload-Metadata encoding gzip) or if the first bytes are gzip or zip magic.
    const declared = upload.metadata.encoding === 'gzip' || /gzip/i.test(upload.metadata.filetype ?? '');
    const head = upload.received >= 4 ? await this.firstBytes(upload) : null;
    const compressed = declared || (head !== null && sniffEncoding(head) !== 'plain');
    const chunker = new LineChunker(
      this.config.ingest.chunkBytes,
      this.config.body.maxLineBytes,
      row.lines_seen + 1,
      this.config.ingest.batchRows,
    );
    // A plain file is read from the cursor; a compressed one from its start, skipping what was processed.
    const counter = { wire: 0, out: 0 };
    const unzip = poolUnzipper(this.pool, { requestId: `upload:${uploadId}`, tenantId });
    let skip = 0;
    let cursor = row.processed_offset;
    /** Chunks handed on and not yet committed; the last one to join the write queue, which the next waits for. */
    const inFlight = new Set<Promise<unknown>>();
    let lastQueued: Promise<unknown> = Promise.resolve();
    let failure: Error | null = null;
    /**
     * A chunk is parsed in the pool as soon as it is cut and joins the shard's write queue after the chunk
     * before it, so chunks commit in order (each moves the cursor to its end; the writer refuses one whose
     * start is not the committed cursor). Up to --ingest-in-flight chunks are out at once, so the writer can
     * put several of them in one transaction.
     */
    const submit = (chunk: LineChunk) => {
      const startOffset = cursor;
      const endOffset = cursor + chunk.bytes.length;
      const size = chunk.bytes.length;
      cursor = endOffset;
      const parse: IngestChunkInput = {
        requestId: `upload:${uploadId}`,
        tenantId,
        kind: 'orders',
        bytes: chunk.bytes,
        firstLine: chunk.firstLine,
        batchRows: Number.POSITIVE_INFINITY,
        maxErrors: Number.POSITIVE_INFINITY,
      };
      const enqueued = parseThenWrite(this.pool, this.writes, parse, {
        after: lastQueued,
        // parsed once its bytes fit in ingest's shared budget (uploads and requests share one bound)
        ready: this.budget.reserve(size),
        upload: { uploadId, firstLine: chunk.firstLine, lines: chunk.lines, startOffset, endOffset },
      });
      // after a failed chunk nothing more joins the queue: the chain stays rejected
      lastQueued = enqueued;
      const done = enqueued
        .then(({ written }) => written)
        .catch((error: Error) => {
          failure ??= error;
        })
        .finally(() => {
          this.budget.release(size);
          inFlight.delete(done);
        });
      inFlight.add(done);
    };
    const drain = async () => {
      await Promise.allSettled([...inFlight]);
      if (failure) throw failure;
    };
    const flushWholeLines = () => {
      const whole = chunker.wholeLines();
      if (whole) submit(whole);
    };
    log.info(
      { processed_offset: row.processed_offset, lines_seen: row.lines_seen, compressed },
      'upload processing',
    );
    try {
      let raw: AsyncIterable<Uint8Array>;
      let decoded: AsyncIterable<Uint8Array>;
      if (compressed || head === null) {
        // from the start: decompressed bytes before the cursor are skipped (with fewer than 4 bytes in, the
        // cursor is 0 and the decoder recognises the format itself)
        raw = this.staged(upload, 0, flushWholeLines);
        skip = row.processed_offset;
        decoded = decodeByMagic(
          metered(raw, this.limits(), counter),
          counter,
          this.limits(),
          unzip,
          declared ? 'gzip' : undefined,
        );
      } else {
        raw = this.staged(upload, row.processed_offset, flushWholeLines);
        decoded = decodeByMagic(metered(raw, this.limits(), counter), counter, this.limits(), unzip, 'plain');
      }
      for await (let data of decoded) {
        if (skip > 0) {
          const drop = Math.min(skip, data.length);
          skip -= drop;
          data = data.subarray(drop);
          if (data.length === 0) continue;
        }
        for (const chunk of chunker.push(data)) {
          while (inFlight.size >= this.config.ingest.inFlight) await Promise.race(inFlight);
          if (failure) throw failure;
          submit(chunk);
        }
      }
      if (upload.stopped) return;
      const last = chunker.end();
      if (last) submit(last);
      await drain();
      await this.finish(upload, 'complete', null);
      log.info({ bytes: upload.received }, 'upload complete');
    } catch (error) {
      await Promise.allSettled([...inFlight]);
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

  private async firstBytes(upload: ActiveUpload): Promise<Uint8Array> {
    const file = await open(this.stagingPath(upload.tenantId, upload.uploadId), 'r');
    try {
      const head = Buffer.alloc(4);
      await file.read(head, 0, 4, 0);
      return head;
    } finally {
      await file.close();
    }
  }

  private limits() {
    return decodeLimits(this.config.body);
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
