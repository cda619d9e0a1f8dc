import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { addSummary, type ChunkSummary } from '../domain/ingest-kinds.js';
import type { Metrics } from '../obs/metrics.js';
import { ObservationBuffer } from '../obs/observations.js';
import { ShardConnections } from '../storage/shards.js';
import { ShardWriteLock } from '../storage/write-lock.js';
import {
  type IngestChunkInput,
  type ParsedForWrite,
  processIngestChunk,
  type WriteChunkInput,
} from './ingest-chunk.js';
import type { WorkerPool } from './pool.js';

/** Processes one line-aligned chunk and reports what it did. */
export type ChunkRunner = (input: IngestChunkInput) => Promise<ChunkSummary>;

/**
 * The default, in two stages: any pool worker parses and validates a chunk; the shard's writer lane
 * inserts its valid rows. Parsing of the next chunks overlaps the insert of this one, and one thread
 * (one connection) does every insert of a shard. A request's chunks are written in body order even when
 * a later one finishes parsing first, so a repeated customer ends with the last line's name and email.
 */
export function poolRunner(pool: WorkerPool): ChunkRunner {
  /** Per request and shard: the write of its latest chunk, which the next chunk's write waits for. */
  const lastWrite = new Map<string, Promise<unknown>>();
  return (input) => {
    const key = `${input.tenantId}/${input.requestId}`;
    const parsing = pool.run<ParsedForWrite>('ingestParse', input, [input.bytes.buffer as ArrayBuffer]);
    const previous = lastWrite.get(key) ?? Promise.resolve();
    const writing = previous
      .catch(() => {}) // a failed chunk fails its own request; the next one is still written
      .then(() => parsing)
      .then(async (parsed) => {
        const write: WriteChunkInput = {
          requestId: input.requestId,
          tenantId: input.tenantId,
          kind: input.kind,
          rows: parsed.rows,
          batchRows: input.batchRows,
          maxErrors: input.maxErrors,
        };
        const written = await pool.write<ChunkSummary>(input.tenantId, 'ingestWrite', write, [
          parsed.rows.buffer as ArrayBuffer,
        ]);
        addSummary(parsed.summary, written, Number.POSITIVE_INFINITY);
        return parsed.summary;
      });
    lastWrite.set(key, writing);
    const forget = () => {
      if (lastWrite.get(key) === writing) lastWrite.delete(key);
    };
    writing.then(forget, forget);
    return writing;
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
