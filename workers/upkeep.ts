/**
 * The upkeep thread's worker module: background work on shards that no request waits for. Kept apart from
 * workers/index.ts so the thread loads only what it runs (an isolate with every task module costs ~12 MB).
 */
import type { CheckpointResult } from '../src/jobs/checkpointer.js';
import type { TaskBase } from '../src/pool/protocol.js';
import { type JournalBackfill, journalBackfillStep } from '../src/storage/order-journal.js';
import { refreshRun } from '../src/storage/postgres/rollup-refresh-run.js';
import type { RollupRefresh } from '../src/storage/postgres/rollups.js';
import { ALL_TIME } from '../src/storage/rollups.js';
import { withPostgres } from '../src/worker/postgres.js';
import {
  type CatchUpResult,
  catchUpRollups,
  type RefreshRollupsInput,
  refreshCatchUpOptions,
} from '../src/worker/rollup-catch-up.js';
import { defineTask } from '../src/worker/worker-context.js';

/**
 * A PASSIVE checkpoint of the shard's WAL from this thread's connection (the upkeep thread): copies what it
 * can into the database file without waiting for, or blocking, the writer.
 */
export const checkpointShard = defineTask('checkpointShard', (ctx, input: TaskBase): CheckpointResult => {
  const [row] = ctx.obs.timeQuery('wal_checkpoint', () =>
    ctx.shards.db(input.tenantId).pragma('wal_checkpoint(PASSIVE)'),
  ) as { busy: number; log: number; checkpointed: number }[];
  const result = { log: row?.log ?? 0, checkpointed: row?.checkpointed ?? 0 };
  // frames left in the WAL after the checkpoint: 0 when it caught up with the writer
  ctx.obs.record('wal_frames_behind', { tenant: String(input.tenantId) }, result.log - result.checkpointed);
  ctx.log.debug(result, 'checkpoint');
  return result;
});

/**
 * The background side of freshness: folds the orders written since the last run into the pre-aggregates,
 * then rebuilds the shard's dirty hours (every one, newest day first) for up to the budget, a transaction
 * at a time under the shard's write lock, stopping as soon as a writer waits for it; so reads find them
 * current instead of doing it (src/jobs/rollup-refresher.ts schedules it).
 */
export const refreshRollups = defineTask(
  'refreshRollups',
  (ctx, input: RefreshRollupsInput): CatchUpResult => {
    const result = catchUpRollups(ctx, input.tenantId, ALL_TIME, refreshCatchUpOptions(input));
    ctx.obs.record('rollup_dirty_hours', { tenant: String(input.tenantId) }, result.remaining);
    ctx.obs.record('rollup_rebuilt_hours_total', { by: 'background' }, result.hours);
    if (result.hours > 0 || result.pending_orders > 0) ctx.log.debug(result, 'rollups refreshed');
    return result;
  },
);

/**
 * A step of completing a shard's order journal under its write lock: a chunk of its orders from before the
 * journal (migration 020) taken in, or once none is left, a batch of blocks from before blocks were bounded
 * split (src/jobs/journal-backfill.ts schedules it at start, step after step, so an upgraded shard's
 * journal ends up whole without an operator's command).
 */
export const journalOlderOrders = defineTask(
  'journalOlderOrders',
  (ctx, input: TaskBase & { maxOrders: number }): JournalBackfill => {
    const db = ctx.shards.db(input.tenantId);
    const step = ctx.lock.withLock(input.tenantId, () =>
      ctx.obs.timeQuery('order_journal_backfill', () => journalBackfillStep(db, input.maxOrders)),
    );
    ctx.obs.record('order_journal_backfill_orders_total', {}, step.moved);
    return step;
  },
);

export type PgRefreshInput = TaskBase & {
  /**
   * Set (non-zero) by the main thread once this server starts writing the tenant: the refresh gives way
   * (src/storage/postgres/rollup-refresh-run.ts). Null for a refresh that must not (the tenant's writes
   * lagged; they never stop).
   */
  stopFlag: SharedArrayBuffer | null;
};

/**
 * PostgreSQL's background side of freshness (src/jobs/pg-rollup-refresher.ts schedules it): the tenant's
 * pending writes folded into its pre-aggregates (a first build, or a backlog's rebuild: every level whole
 * from the orders), a transaction at a time while the budget lasts, giving way to the tenant's writes when
 * it began because they had stopped (src/storage/postgres/rollup-refresh-run.ts); skipped (null) while
 * another server's refresher holds the tenant.
 */
export const refreshPgRollups = defineTask(
  'refreshPgRollups',
  (ctx, input: PgRefreshInput): Promise<RollupRefresh | null> =>
    withPostgres(ctx, 'rollup_refresh', async (client) => {
      const started = performance.now();
      const stop = input.stopFlag ? new Int32Array(input.stopFlag) : null;
      const { refreshed, yielded } = await refreshRun(client, input.tenantId, {
        budgetMs: PG_REFRESH_BUDGET_MS,
        ...(stop ? { shouldStop: () => Atomics.load(stop, 0) !== 0 } : {}),
      });
      if (yielded) ctx.obs.record('rollup_refresh_yields_total', {}, 1);
      if (refreshed && refreshed.orders > 0) {
        ctx.obs.record(
          'rollup_folded_orders_total',
          { mode: refreshed.mode === 'deltas' ? 'delta' : 'rebuild' },
          refreshed.orders,
        );
        ctx.log.info(
          {
            tenant_id: input.tenantId,
            ...refreshed,
            yielded_to_writes: yielded,
            ms: Math.round(performance.now() - started),
          },
          refreshed.mode === 'deltas' ? 'pre-aggregates refreshed' : 'pre-aggregates built',
        );
      }
      return refreshed;
    }),
);

/** How long one refresh of a tenant's PostgreSQL pre-aggregates goes on taking pending writes. */
const PG_REFRESH_BUDGET_MS = 2000;
