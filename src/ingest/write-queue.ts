import type { ChunkSummary, IngestKind } from '../domain/ingest-kinds.js';
import type { WorkerPool } from '../pool/pool.js';
import { WorkerTaskError } from '../pool/task-error.js';
import { nextWriteSeq } from '../storage/write-seq.js';
import type { WritePart, WritePartsResult } from './write-parts.js';

interface Waiting {
  part: WritePart;
  resolve: (summary: ChunkSummary) => void;
  reject: (error: Error) => void;
}

interface ShardQueue {
  waiting: Waiting[];
  /** write tasks of this shard running now */
  writing: number;
  /**
   * Uploads with a chunk in a running write task: their next chunks wait for it, since an upload's cursor
   * moves chunk by chunk (with several writers a shard, the next chunk could otherwise commit first).
   */
  uploadsWriting: Set<string>;
}

export interface WriteQueueOptions {
  /** A transaction takes further parts until it holds this many rows. */
  commitRows: number;
  /**
   * Write tasks of one shard at once: 1 on SQLite (one writer per file); on PostgreSQL several, each taking
   * its share of `commitRows`, so that a bulk load keeps them all busy rather than one with everything.
   */
  writersPerShard?: number;
  /** Called after each write task with the kind of rows it wrote (one kind per task), e.g. to schedule a checkpoint. */
  onWritten?: (tenantId: number, kind: IngestKind, result: WritePartsResult) => void;
}

/**
 * Group commit for bulk writes, on the main thread: the parsed chunks of every request and upload of a
 * shard wait here in arrival order; whenever the shard's writer lane is free, everything waiting (up to
 * about `commitRows` rows) goes to it as one task, which writes it in as few transactions as fit. Nothing
 * waits on purpose: while one write runs, the next chunks gather, so the transactions grow with the load
 * (one chunk when a single small request comes, tens under a bulk load). Each chunk's promise settles when
 * its transaction has committed, so a request is answered only for rows that are in the database.
 */
export class ShardWriteQueue {
  private readonly shards = new Map<number, ShardQueue>();

  constructor(
    private readonly pool: WorkerPool,
    private readonly options: WriteQueueOptions,
  ) {}

  /** Queues a parsed chunk for its shard's writer; settles once its rows are committed (or failed). */
  write(tenantId: number, chunk: Omit<WritePart, 'seq'>): Promise<ChunkSummary> {
    const part: WritePart = { ...chunk, seq: nextWriteSeq() };
    let shard = this.shards.get(tenantId);
    if (!shard) {
      shard = { waiting: [], writing: 0, uploadsWriting: new Set() };
      this.shards.set(tenantId, shard);
    }
    const queued = new Promise<ChunkSummary>((resolve, reject) => {
      shard.waiting.push({ part, resolve, reject });
    });
    this.pump(tenantId, shard);
    return queued;
  }

  /** Whether the shard has rows being written or waiting for its writer (a load under way). */
  writing(tenantId: number): boolean {
    return this.shards.has(tenantId);
  }

  /** Parts waiting for a writer, over every shard (the pool_write_queue_length gauge). */
  get waiting(): number {
    let n = 0;
    for (const s of this.shards.values()) n += s.waiting.length;
    return n;
  }

  private pump(tenantId: number, shard: ShardQueue): void {
    if (shard.writing >= this.writers || shard.waiting.length === 0) return;
    const batch = this.take(shard);
    if (batch.length === 0) return; // every waiting part follows an upload chunk being written
    shard.writing++;
    const parts = batch.map((w) => w.part);
    const uploads = parts.flatMap((p) => (p.upload ? [p.upload.uploadId] : []));
    for (const id of uploads) shard.uploadsWriting.add(id);
    this.pool
      .write(
        tenantId,
        'ingestWriteParts',
        { requestId: parts[0]!.requestId, tenantId, parts, commitRows: this.options.commitRows },
        parts.map((p) => p.rows.buffer as ArrayBuffer),
      )
      .then(
        (result) => {
          batch.forEach((w, i) => {
            const outcome = result.outcomes[i]!;
            if (outcome.ok) w.resolve(outcome.summary);
            else w.reject(new WorkerTaskError('ingestWriteParts', outcome.error));
          });
          this.options.onWritten?.(tenantId, parts[0]!.kind, result);
        },
        (error: Error) => {
          for (const w of batch) w.reject(error);
        },
      )
      .finally(() => {
        shard.writing--;
        for (const id of uploads) shard.uploadsWriting.delete(id);
        if (shard.waiting.length > 0) this.pump(tenantId, shard);
        else if (shard.writing === 0) this.shards.delete(tenantId);
      });
    // another writer free and parts still waiting: it takes the next share
    this.pump(tenantId, shard);
  }

  private get writers(): number {
    return this.options.writersPerShard ?? 1;
  }

  /**
   * The oldest waiting parts of one kind, up to about a writer's share of `commitRows` rows (at least one
   * part), passing over the chunks of uploads that have a chunk in a running task (they keep their places).
   */
  private take(shard: ShardQueue): Waiting[] {
    const limit = this.options.commitRows / this.writers;
    const taken: Waiting[] = [];
    let rows = 0;
    for (const waiting of shard.waiting) {
      const { part } = waiting;
      if (part.upload && shard.uploadsWriting.has(part.upload.uploadId)) continue;
      if (taken.length > 0 && (part.kind !== taken[0]!.part.kind || rows + part.rowCount > limit)) break;
      taken.push(waiting);
      rows += part.rowCount;
    }
    if (taken.length === shard.waiting.length) shard.waiting = [];
    else if (taken.length > 0) {
      const gone = new Set(taken);
      shard.waiting = shard.waiting.filter((w) => !gone.has(w));
    }
    return taken;
  }
}
