import { threadId } from 'node:worker_threads';
import type { ChunkSummary } from '../src/domain/ingest-kinds.js';
import {
  type IngestChunkInput,
  parseForWrite,
  type WriteChunkInput,
  writeParsed,
} from '../src/pool/ingest-chunk.js';
import type { TaskBase } from '../src/pool/protocol.js';
import { defineTask, type TaskContext } from '../src/pool/worker-context.js';

/** Pool ingest, stage 1 (any pool worker): parse and validate a chunk, encode its valid rows. */
export const ingestParse = defineTask('ingestParse', (ctx, input: IngestChunkInput) =>
  parseForWrite(ctx, input),
);

/** Pool ingest, stage 2 (the shard's writer lane): insert the rows stage 1 validated. */
export const ingestWrite = defineTask('ingestWrite', (ctx, input: WriteChunkInput) => {
  const started = performance.now();
  const summary = writeParsed(ctx, input);
  logWritten(ctx, input, summary, started);
  return summary;
});

/** The debug line each bulk write leaves: which thread wrote what, and how long it took. */
export function logWritten(
  ctx: TaskContext,
  input: Pick<WriteChunkInput, 'kind'>,
  summary: ChunkSummary,
  started: number,
): void {
  ctx.log.debug(
    {
      kind: input.kind,
      thread_id: threadId,
      inserted: summary.inserted,
      duplicate: summary.duplicate,
      failed: summary.failed,
      ms: Math.round(performance.now() - started),
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
