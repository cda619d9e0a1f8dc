import type { Logger } from '../obs/logger.js';
import type { WorkerPool } from '../pool/pool.js';

/** Orders a chunk takes in: one transaction under the shard's write lock (~0.1 s for 16k on 2 cores). */
export const JOURNAL_BACKFILL_CHUNK_ORDERS = 16_384;

/** Rest between chunks, so writers and the rest of the upkeep thread's work go first. */
const PAUSE_MS = 50;

/**
 * Completes the order journal of shards that had orders before it (migration 020 starts it past them):
 * once at start, tenant after tenant, their older orders are taken in a chunk at a time on the upkeep
 * thread (`journalOlderOrders`), newest first, until the journal holds every order; then its blocks from
 * before migration 021 (several months a block; the first weeks' also 64 KiB or more, or without every
 * order column) are rewritten a month a block, a batch at a time. A shard whose journal is whole costs
 * two queries. Until then its reads take the older orders from the tables (as
 * `npm run tenant -- journal-orders` would do offline). Returns the function that stops it.
 */
export function startJournalBackfill(options: {
  pool: Pick<WorkerPool, 'background'>;
  log: Logger;
  tenantIds: () => readonly number[];
  chunkOrders?: number;
}): () => void {
  let stopped = false;
  const chunkOrders = options.chunkOrders ?? JOURNAL_BACKFILL_CHUNK_ORDERS;
  /** One tenant's older orders, chunk after chunk; false once stopped. */
  const takeIn = async (tenantId: number): Promise<boolean> => {
    const started = performance.now();
    let moved = 0;
    let rewritten = 0;
    for (;;) {
      if (stopped) return false;
      const step = await options.pool.background('journalOlderOrders', {
        requestId: 'journal-backfill',
        tenantId,
        maxOrders: chunkOrders,
      });
      moved += step.moved;
      rewritten += step.rewritten;
      if (step.done) break;
      await new Promise((resolve) => setTimeout(resolve, PAUSE_MS).unref());
    }
    if (moved > 0 || rewritten > 0)
      options.log.info(
        {
          tenant_id: tenantId,
          order_pks: moved,
          old_blocks_rewritten: rewritten,
          ms: Math.round(performance.now() - started),
        },
        'order journal: the orders from before it taken in, its old blocks rewritten',
      );
    return true;
  };
  const run = async () => {
    for (const tenantId of options.tenantIds()) {
      try {
        if (!(await takeIn(tenantId))) return;
      } catch (error) {
        if (stopped) return;
        // one shard that fails (damaged, its disk full) does not keep the others' journals incomplete
        options.log.error(
          { err: error, tenant_id: tenantId },
          'taking older orders into the order journal failed',
        );
      }
    }
  };
  void run();
  return () => {
    stopped = true;
  };
}
