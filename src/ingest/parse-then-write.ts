import type { ChunkSummary } from '../domain/ingest-kinds.js';
import type { WorkerPool } from '../pool/pool.js';
import type { IngestChunkInput, ParsedForWrite } from './ingest-chunk.js';
import type { UploadAdvance } from './write-parts.js';
import type { ShardWriteQueue } from './write-queue.js';

/** A chunk on its way: parsed, and queued for its shard's writer. */
export interface QueuedChunk {
  parsed: ParsedForWrite;
  /** settles once the chunk's rows are committed */
  written: Promise<ChunkSummary>;
}

export interface ParseThenWriteOptions {
  /** the chunk before this one of the same stream: this one joins the write queue after it has */
  after: Promise<unknown>;
  /** parsing starts once this settles (an upload waits for room in ingest's byte budget) */
  ready?: Promise<void>;
  /** an upload's cursor, committed with the chunk's rows */
  upload?: Omit<UploadAdvance, 'parsed'>;
}

/**
 * The two stages every ingested chunk passes, request bodies and uploads alike: any pool worker parses and
 * validates it as soon as it is cut (overlapping the writes of earlier chunks); its valid rows join the
 * shard's write queue only after the chunk before it has, so a stream's chunks commit in the order they
 * were cut even when a later one finishes parsing first (a repeated customer ends with the last line's
 * name and email; an upload's cursor only moves forward).
 */
export function parseThenWrite(
  pool: WorkerPool,
  writes: ShardWriteQueue,
  input: IngestChunkInput,
  options: ParseThenWriteOptions,
): Promise<QueuedChunk> {
  const transfer = [input.bytes.buffer as ArrayBuffer];
  const parsing = options.ready
    ? options.ready.then(() => pool.run('ingestParse', input, transfer))
    : pool.run('ingestParse', input, transfer);
  const { upload } = options;
  return options.after
    .then(() => parsing)
    .then((parsed) => ({
      parsed,
      written: writes.write(input.tenantId, {
        requestId: input.requestId,
        kind: input.kind,
        rows: parsed.rows,
        rowCount: parsed.rowCount,
        maxErrors: input.maxErrors,
        ...(upload ? { upload: { ...upload, parsed: parsed.summary } } : {}),
      }),
    }));
}
