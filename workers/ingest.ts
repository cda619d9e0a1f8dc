import { threadId } from 'node:worker_threads';
import type { ChunkSummary } from '../src/domain/ingest-kinds.js';
import { type IngestChunkInput, parseForWrite } from '../src/pool/ingest-chunk.js';
import type { TaskBase } from '../src/pool/protocol.js';
import { defineTask, type TaskContext } from '../src/pool/worker-context.js';
import { type WritePart, type WritePartsInput, writeParts } from '../src/pool/write-parts.js';

/** Pool ingest, stage 1 (any pool worker): parse and validate a chunk, encode its valid rows. */
export const ingestParse = defineTask('ingestParse', (ctx, input: IngestChunkInput) =>
  parseForWrite(ctx, input),
);

/**
 * Pool ingest, stage 2 (the shard's writer lane): the parts the write queue gathered (chunks of requests and
 * uploads, in order), in as few transactions as they fit.
 */
export const ingestWriteParts = defineTask('ingestWriteParts', (ctx, input: WritePartsInput) => {
  const started = performance.now();
  const result = writeParts(ctx, input);
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
  ctx.lock.withLock(input.tenantId, () =>
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
