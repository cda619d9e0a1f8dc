import type { ByteBudget } from '../domain/byte-budget.js';
import { addSummary, type ChunkSummary, emptySummary, type IngestKind } from '../domain/ingest-kinds.js';
import { type LineChunk, LineChunker } from '../domain/line-chunker.js';
import { NamedError } from '../domain/named-error.js';
import type { RowError } from '../domain/order-schema.js';
import type { ChunkRunner } from './chunk-runners.js';
import { ChunksInFlight } from './chunks-in-flight.js';

export interface DispatchOptions {
  kind: IngestKind;
  tenantId: number;
  requestId: string;
  chunkBytes: number;
  maxLineBytes: number;
  batchRows: number;
  /** Chunks handed to the pool and not yet finished, per request. */
  maxInFlight: number;
  maxErrors: number;
  maxRows?: number;
  /** Bytes held by chunks between being cut and being committed, shared by every request (waits when full). */
  budget?: Pick<ByteBudget, 'reserve' | 'release'>;
  /** Called after each chunk is committed (the summary so far). */
  onProgress?: (summary: ChunkSummary, chunk: LineChunk) => void;
}

export class RowLimitExceeded extends NamedError {
  constructor(readonly limit: number) {
    super(`the body holds more than ${limit} rows`);
  }
}

/** Failure of the body itself (not of a row); carries the counts of what was committed before it. */
export class IngestAborted extends NamedError {
  constructor(
    override readonly cause: Error,
    readonly summary: ChunkSummary,
  ) {
    super(cause.message);
  }
}

function byLine(a: RowError, b: RowError): number {
  return a.line - b.line;
}

/**
 * Feeds a byte stream through a chunk runner: the main thread only cuts line-aligned chunks; the runner
 * (pool workers by default) parses, validates and inserts. At most `maxInFlight` chunks are out at once; while they are, the source is not
 * read, so a fast client is slowed to the database's pace and memory stays bounded.
 */
export async function dispatchIngest(
  runChunk: ChunkRunner,
  source: AsyncIterable<Uint8Array>,
  options: DispatchOptions,
): Promise<ChunkSummary> {
  const chunker = new LineChunker(options.chunkBytes, options.maxLineBytes, 1, options.batchRows);
  const summary = emptySummary();
  const inFlight = new ChunksInFlight(options.maxInFlight);
  let linesSeen = 0;

  /** Hands a chunk on; its bytes were reserved in the budget by the caller. */
  const submit = (chunk: LineChunk) => {
    linesSeen += chunk.lines;
    const size = chunk.bytes.byteLength;
    if (options.maxRows !== undefined && linesSeen > options.maxRows) {
      options.budget?.release(size);
      throw new RowLimitExceeded(options.maxRows);
    }
    const task = runChunk({
      requestId: options.requestId,
      tenantId: options.tenantId,
      kind: options.kind,
      bytes: chunk.bytes,
      firstLine: chunk.firstLine,
      batchRows: options.batchRows,
      maxErrors: options.maxErrors,
    });
    inFlight.track(
      task,
      () => options.budget?.release(size),
      (part) => {
        addSummary(summary, part, Number.POSITIVE_INFINITY);
        summary.errors.sort(byLine);
        summary.errors.length = Math.min(summary.errors.length, options.maxErrors);
        options.onProgress?.(summary, chunk);
      },
    );
  };

  try {
    for await (const data of source) {
      for (const chunk of chunker.push(data)) {
        await inFlight.room();
        await options.budget?.reserve(chunk.bytes.byteLength);
        submit(chunk);
      }
    }
    const last = chunker.end();
    if (last) {
      await options.budget?.reserve(last.bytes.byteLength);
      submit(last);
    }
  } catch (error) {
    // The body broke (corrupt, too long, client gone): whole lines already received are still committed.
    if (!inFlight.failure && !(error instanceof RowLimitExceeded)) {
      const whole = chunker.completeLines();
      if (whole) {
        await options.budget?.reserve(whole.bytes.byteLength);
        try {
          submit(whole);
        } catch {
          // row limit reached: nothing more is submitted
        }
      }
    }
    await inFlight.settled();
    throw new IngestAborted(error as Error, summary);
  }
  await inFlight.settled();
  if (inFlight.failure) throw new IngestAborted(inFlight.failure, summary);
  return summary;
}
