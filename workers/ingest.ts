import { type IngestChunkInput, processIngestChunk } from '../src/pool/ingest-chunk.js';
import type { TaskBase } from '../src/pool/protocol.js';
import { defineTask } from '../src/pool/worker-context.js';

export type { IngestChunkInput };

export const ingestChunk = defineTask('ingestChunk', (ctx, input: IngestChunkInput) =>
  processIngestChunk(ctx, input),
);

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
