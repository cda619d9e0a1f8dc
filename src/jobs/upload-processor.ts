import type { Config } from '../config/load.js';
import type { ByteBudget } from '../domain/byte-budget.js';
import { type LineChunk, LineChunker } from '../domain/line-chunker.js';
import { decodeByMagic, decodeLimits, metered, sniffEncoding } from '../ingest/body-decoder.js';
import { ChunksInFlight } from '../ingest/chunks-in-flight.js';
import type { IngestChunkInput } from '../ingest/ingest-chunk.js';
import { parseThenWrite } from '../ingest/parse-then-write.js';
import { poolUnzipper } from '../ingest/unzipper.js';
import type { ShardWriteQueue } from '../ingest/write-queue.js';
import type { Logger } from '../obs/logger.js';
import type { WorkerPool } from '../pool/pool.js';
import type { UploadRow } from '../storage/upload-store.js';
import type { ActiveUpload, UploadStaging } from '../uploads/staging.js';

/** Staging-file reads feeding the processor. */
const READ_BYTES = 1 << 20;

/** The option groups an upload's processing follows: ingest's chunking, the body limits, upload expiry. */
export type UploadConfig = Pick<Config, 'server' | 'ingest' | 'body' | 'upload'>;

export interface UploadProcessorDeps {
  pool: WorkerPool;
  writes: ShardWriteQueue;
  config: UploadConfig;
  /** chunk bytes between cut and commit: uploads share ingest's bound */
  budget: Pick<ByteBudget, 'reserve' | 'release'>;
  /** where the upload's bytes wait (a file, or PostgreSQL's rows) */
  staging: UploadStaging;
  log: Logger;
}

/**
 * Processes one tus upload while it arrives: tails its staging file up to the durable offset, decodes it
 * (plain, gzip or zip, like the single-request endpoint), cuts line-aligned chunks and passes each through
 * the pool's parse and the shard's writer (src/ingest/parse-then-write.ts); each chunk's rows and the
 * upload's cursor commit together. After a restart it starts at the committed cursor: a plain file is read
 * from that offset, a compressed one is decompressed from the start and the bytes before the cursor are
 * skipped (never re-inserted). True once every byte is committed; false when the upload was stopped.
 */
export async function processStagedUpload(
  deps: UploadProcessorDeps,
  upload: ActiveUpload,
  row: UploadRow,
): Promise<boolean> {
  const { tenantId, uploadId } = upload;
  const { log } = deps;
  const limits = decodeLimits(deps.config.body);
  // Compressed if declared (Upload-Metadata encoding gzip) or if the first bytes are gzip or zip magic.
  const declared = upload.metadata.encoding === 'gzip' || /gzip/i.test(upload.metadata.filetype ?? '');
  const head = upload.received >= 4 ? await firstBytes(deps.staging, upload) : null;
  const compressed = declared || (head !== null && sniffEncoding(head) !== 'plain');
  const chunker = new LineChunker(
    deps.config.ingest.chunkBytes,
    deps.config.body.maxLineBytes,
    row.lines_seen + 1,
    deps.config.ingest.batchRows,
  );
  const counter = { wire: 0, out: 0 };
  const unzip = poolUnzipper(deps.pool, { requestId: `upload:${uploadId}`, tenantId });
  let skip = 0;
  let cursor = row.processed_offset;
  const inFlight = new ChunksInFlight(deps.config.ingest.inFlight);
  /** the last chunk to join the write queue, which the next waits for */
  let lastQueued: Promise<unknown> = Promise.resolve();
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
    const enqueued = parseThenWrite(deps.pool, deps.writes, parse, {
      after: lastQueued,
      // parsed once its bytes fit in ingest's shared budget (uploads and requests share one bound)
      ready: deps.budget.reserve(size),
      upload: { uploadId, firstLine: chunk.firstLine, lines: chunk.lines, startOffset, endOffset },
    });
    // after a failed chunk nothing more joins the queue: the chain stays rejected
    lastQueued = enqueued;
    inFlight.track(
      enqueued.then(({ written }) => written),
      () => deps.budget.release(size),
    );
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
    // A compressed file (or one too short to tell) is decoded from its start and the decompressed bytes
    // before the cursor are skipped (with fewer than 4 bytes in, the cursor is 0 and the decoder recognises
    // the format itself); a plain one is read from the cursor.
    const fromStart = compressed || head === null;
    skip = fromStart ? row.processed_offset : 0;
    const raw = staged(deps.staging, upload, fromStart ? 0 : row.processed_offset, flushWholeLines);
    const encoding = fromStart ? (declared ? 'gzip' : undefined) : 'plain';
    const decoded = decodeByMagic(metered(raw, limits, counter), counter, limits, unzip, encoding);
    for await (let data of decoded) {
      if (skip > 0) {
        const drop = Math.min(skip, data.length);
        skip -= drop;
        data = data.subarray(drop);
        if (data.length === 0) continue;
      }
      for (const chunk of chunker.push(data)) {
        await inFlight.room();
        submit(chunk);
      }
    }
    if (upload.stopped) return false;
    const last = chunker.end();
    if (last) submit(last);
    await inFlight.settled();
    if (inFlight.failure) throw inFlight.failure;
    return true;
  } catch (error) {
    // every chunk handed on has settled before the caller decides (retry, fail)
    await inFlight.settled();
    throw error;
  }
}

/** Tails the staged bytes from `from` up to the durable offset, waiting (after `idle`) for more. */
async function* staged(
  staging: UploadStaging,
  upload: ActiveUpload,
  from: number,
  idle: () => void,
): AsyncGenerator<Uint8Array> {
  const reader = await staging.open(upload);
  let position = from;
  try {
    for (;;) {
      if (upload.stopped) return;
      const end = upload.received;
      // the first read waits for 4 bytes, enough to recognise gzip or zip by their magic
      const enough = position > 0 || end >= 4 || (upload.length !== null && end === upload.length);
      if (position < end && enough) {
        const bytes = await reader.read(position, Math.min(READ_BYTES, end - position));
        if (bytes.length > 0) {
          position += bytes.length;
          yield bytes;
          continue;
        }
      } else if (upload.length !== null && position >= upload.length) return;
      idle();
      await staging.waitForMore(upload);
    }
  } finally {
    await reader.close();
  }
}

async function firstBytes(staging: UploadStaging, upload: ActiveUpload): Promise<Uint8Array> {
  const reader = await staging.open(upload);
  try {
    return await reader.read(0, 4);
  } finally {
    await reader.close();
  }
}
