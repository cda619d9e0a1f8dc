import { type MessagePort, threadId } from 'node:worker_threads';
import type { ChunkSummary } from '../src/domain/ingest-kinds.js';
import { type ZipLimits, ZipReader } from '../src/formats/zip-reader.js';
import { type IngestChunkInput, parseForWrite } from '../src/ingest/ingest-chunk.js';
import { type WritePart, type WritePartsInput, writeParts } from '../src/ingest/write-parts.js';
import { writePartsOnPostgres } from '../src/ingest/write-parts-postgres.js';
import type { TaskBase, UnzipReply, UnzipRequest } from '../src/pool/protocol.js';
import { PgHistoryWriter } from '../src/storage/postgres/history-writer.js';
import { onPostgres, withPostgres, workerPostgres } from '../src/worker/postgres.js';
import { defineTask, type TaskContext, withTransfer } from '../src/worker/worker-context.js';

/**
 * Pool ingest, stage 1 (any pool worker): parse and validate a chunk, encode its valid rows. The rows'
 * bytes go to the main thread transferred (it passes them on to the writer lane the same way): copied, they
 * were written into a fresh message here and read into fresh memory there: ~150 page faults a chunk of
 * 2,000 orders (its ~300 KB twice).
 */
export const ingestParse = defineTask('ingestParse', (ctx, input: IngestChunkInput) => {
  const parsed = parseForWrite(ctx, input);
  return withTransfer(parsed, [parsed.rows.buffer as ArrayBuffer]);
});

/**
 * Pool ingest, stage 2 (the shard's writer lane): the parts the write queue gathered (chunks of requests and
 * uploads, in order), in as few transactions as they fit.
 */
export const ingestWriteParts = defineTask('ingestWriteParts', async (ctx, input: WritePartsInput) => {
  const started = performance.now();
  const result = onPostgres(ctx)
    ? await writePartsOnPostgres(ctx.obs, await workerPostgres(), input)
    : writeParts(ctx, input);
  input.parts.forEach((part, i) => {
    const outcome = result.outcomes[i]!;
    if (outcome.ok) logWritten(ctx, part, outcome.summary);
    else ctx.log.error({ part_req_id: part.requestId, err: outcome.error }, 'chunk write failed');
  });
  ctx.log.debug(
    {
      thread_id: threadId,
      parts: input.parts.length,
      transactions: result.transactions,
      largest: result.largest,
      ms: Math.round(performance.now() - started),
    },
    'parts written',
  );
  return result;
});

/** The debug line each written chunk leaves: which thread wrote what, for which request. */
function logWritten(ctx: TaskContext, part: WritePart, summary: ChunkSummary): void {
  ctx.log.debug(
    {
      kind: part.kind,
      part_req_id: part.requestId,
      thread_id: threadId,
      inserted: summary.inserted,
      duplicate: summary.duplicate,
      failed: summary.failed,
    },
    'chunk written',
  );
}

/** After loading stock history: each product's stock and version become those after its last event. */
export const settleStock = defineTask('settleStock', (ctx, input: TaskBase) =>
  onPostgres(ctx)
    ? withPostgres(ctx, 'settle_stock', (client) => new PgHistoryWriter(client, input.tenantId).settleStock())
    : ctx.lock.withLock(input.tenantId, () =>
        ctx.obs.timeQuery('settle_stock', () => {
          const db = ctx.shards.db(input.tenantId);
          return db
            .prepare(
              `UPDATE products SET stock = s.stock_after, stock_version = s.version_after
               FROM (SELECT product_id, stock_after, max(version_after) AS version_after
                     FROM stock_events GROUP BY product_id) AS s
               WHERE products.product_id = s.product_id`,
            )
            .run().changes;
        }),
      ),
);

/**
 * Zip inflation for a request or an upload, off the event loop (fflate is synchronous JavaScript: a zip of
 * 200,000 empty members once held the main thread for 25 s). The main thread sends compressed bytes over
 * the port and waits for each reply before sending more, so at most one step's output exists at a time.
 */
export const unzipStream = defineTask(
  'unzipStream',
  (_ctx, input: TaskBase & { port: MessagePort; limits: ZipLimits }) =>
    new Promise<boolean>((resolve) => {
      const reader = new ZipReader(input.limits);
      const finish = () => {
        input.port.close();
        resolve(true);
      };
      input.port.on('close', () => resolve(true));
      input.port.on('message', (m: UnzipRequest) => {
        if (m.t === 'close') return finish();
        const step = m.t === 'data' ? reader.push(m.b) : reader.end();
        const bytes = concat(step.pieces);
        const failure = step.failure && { code: step.failure.code, message: step.failure.message };
        const reply: UnzipReply = { bytes, outBytes: reader.outBytes, failure };
        input.port.postMessage(reply, [bytes.buffer as ArrayBuffer]);
      });
    }),
);

function concat(pieces: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(pieces.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of pieces) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}
