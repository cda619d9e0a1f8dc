import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { addSummary, type ChunkSummary } from '../domain/ingest-kinds.js';
import type { Metrics } from '../obs/metrics.js';
import { ObservationBuffer } from '../obs/observations.js';
import type { WorkerPool } from '../pool/pool.js';
import { ShardConnections } from '../storage/shards.js';
import { ShardWriteLock } from '../storage/write-lock.js';
import { type IngestChunkInput, processIngestChunk } from './ingest-chunk.js';
import { parseThenWrite } from './parse-then-write.js';
import type { ShardWriteQueue } from './write-queue.js';

/** Processes one line-aligned chunk and reports what it did. */
export type ChunkRunner = (input: IngestChunkInput) => Promise<ChunkSummary>;

/**
 * The default: parse in the pool, then the shard's writer lane, in body order (src/ingest/parse-then-write.ts);
 * the writer lane takes the chunk together with whatever else waits for that shard.
 */
export function poolRunner(pool: WorkerPool, writes: ShardWriteQueue): ChunkRunner {
  /** Per request and shard: when its latest chunk joins the write queue, which the next chunk waits for. */
  const lastQueued = new Map<string, Promise<unknown>>();
  return (input) => {
    const key = `${input.tenantId}/${input.requestId}`;
    const enqueued = parseThenWrite(pool, writes, input, { after: lastQueued.get(key) ?? Promise.resolve() });
    // a failed parse fails its own chunk; the next one still joins the queue after it
    const settled = enqueued.catch(() => null);
    lastQueued.set(key, settled);
    const forget = () => {
      if (lastQueued.get(key) === settled) lastQueued.delete(key);
    };
    void settled.then(forget);
    return enqueued.then(async ({ parsed, written }) => {
      addSummary(parsed.summary, await written, Number.POSITIVE_INFINITY);
      return parsed.summary;
    });
  };
}

/**
 * The brief's alternative path: the same processing on the event loop, one chunk at a time, yielding to
 * the loop between chunks. No thread hand-off, but parsing and inserting block every other request for
 * the length of a chunk. It shares the workers' write lock, so it serialises with pool writers.
 */
export function inlineRunner(dataDir: string, writeLock: SharedArrayBuffer, metrics: Metrics): ChunkRunner {
  const ctx = {
    shards: new ShardConnections(dataDir),
    lock: new ShardWriteLock(writeLock),
    obs: new ObservationBuffer(),
  };
  let queue: Promise<unknown> = Promise.resolve();
  return (input) => {
    const run = queue.then(async () => {
      await yieldToEventLoop();
      try {
        return processIngestChunk(ctx, input);
      } finally {
        metrics.apply(ctx.obs.drain());
      }
    });
    queue = run.catch(() => {});
    return run;
  };
}
