import type { TaskBase } from '../pool/protocol.js';
import { type PendingResult, type RebuildResult, RollupBuilder } from '../storage/rollups.js';
import type { TaskContext } from './worker-context.js';

/** What the main thread hands the upkeep thread's refresh of a shard (src/jobs/rollup-refresher.ts). */
export type RefreshRollupsInput = TaskBase & {
  /** stop rebuilding after this long (0: one slice), leaving the rest dirty for the next run */
  budgetMs: number;
  /**
   * the shard was written within the refresher's quiet delay: a run rebuilds one slice at most, and none
   * when its fold finds a bulk batch (the pause between a load's requests)
   */
  writing: boolean;
};

/** How a background refresh catches up: yielding to writers, and rebuilding nothing after a bulk fold. */
export function refreshCatchUpOptions(input: RefreshRollupsInput): CatchUpOptions {
  return {
    budgetMs: input.budgetMs,
    yieldToWriters: true,
    bulkEndsRun: input.writing,
    query: 'rollup_refresh',
  };
}

/** What a catch-up did: the pending orders folded in (and how), then the dirty hours rebuilt. */
export interface CatchUpResult extends RebuildResult {
  /** orders left past the watermark by a read that would not wait for the lock, and the oldest's age */
  unfolded_orders: number;
  oldest_unfolded_ms: number | null;
  pending_orders: number;
  pending_mode: PendingResult['mode'];
  ms: number;
}

/** How a catch-up goes (catchUpRollups). */
export interface CatchUpOptions {
  budgetMs: number;
  yieldToWriters: boolean;
  /** fold the new orders in and rebuild nothing (an exact read that may answer from the journal) */
  foldOnly?: boolean;
  /**
   * a fold that marked its orders' hours dirty (a bulk batch) ends the catch-up: the upkeep thread in the
   * pause between a load's requests (the next one is likely on its way: a rebuild now would be made stale
   * by it, and cost the load its writer's time and the upkeep thread's memory)
   */
  bulkEndsRun?: boolean;
  /**
   * leave new orders unfolded while none of them was acknowledged longer ago than this (an approx read
   * under a steady ingest): fold them only if the lock is free now, or (`youngLeftToUpkeep`: the upkeep
   * thread folds them within its max lag) not at all
   */
  unfoldedMaxAgeMs?: number;
  youngLeftToUpkeep?: boolean;
  query: string;
}

/**
 * Brings a shard's pre-aggregates up to date over [start, end) inside a worker: first the orders past the
 * watermark are folded in (deltas, or their hours marked dirty for a bulk load), then the dirty hours of
 * the range are rebuilt, newest day first, for at most `budgetMs` (the first slice always runs). Each step
 * is a transaction under the shard's write lock; with `yieldToWriters` it stops as soon as a writer waits.
 */
export function catchUpRollups(
  ctx: TaskContext,
  tenantId: number,
  range: { start: number; end: number },
  options: CatchUpOptions,
): CatchUpResult {
  const builder = ctx.shards.cached(tenantId, 'RollupBuilder', (d) => new RollupBuilder(d));
  const t0 = performance.now();
  let writerWaits = false;
  const locked = <T>(work: () => T): T =>
    ctx.lock.withLock(tenantId, () => {
      const out = ctx.obs.timeQuery(options.query, work);
      writerWaits = ctx.lock.contended(tenantId);
      return out;
    });
  const tryLocked = <T>(work: () => T) =>
    ctx.lock.tryWithLock(tenantId, () => ctx.obs.timeQuery(options.query, work));
  const pending = foldPending(builder, { locked, tryLocked }, options.unfoldedMaxAgeMs, {
    youngLeftToUpkeep: options.youngLeftToUpkeep ?? false,
  });
  if (pending.orders > 0)
    ctx.obs.record('rollup_folded_orders_total', { mode: pending.mode }, pending.orders);
  const rebuild =
    !options.foldOnly &&
    !(options.bulkEndsRun && pending.mode === 'marked') &&
    !(options.yieldToWriters && writerWaits);
  const rebuilt = rebuild
    ? builder.rebuildDirty(range.start, range.end, {
        locked,
        budgetMs: options.budgetMs,
        stop: () => options.yieldToWriters && writerWaits,
      })
    : { hours: 0, rows: 0, months: 0, remaining: builder.countDirty(range.start, range.end) };
  return {
    ...rebuilt,
    unfolded_orders: pending.unfolded,
    oldest_unfolded_ms: pending.oldestUnfoldedMs,
    pending_orders: pending.orders,
    pending_mode: pending.mode,
    ms: Math.round(performance.now() - t0),
  };
}

/**
 * The pending orders folded in under the write lock. With `unfoldedMaxAgeMs`, orders acknowledged less
 * than that ago may be left: folded only if the lock is free now (on read: nobody else folds them), or not
 * at all (`youngLeftToUpkeep`: the upkeep thread folds them within its max lag); once one is older, the read
 * waits for the lock and folds. A read under a steady ingest then neither queues behind the writer nor
 * does the upkeep's work for orders a moment old, and says what it left. With nothing pending it takes no
 * lock at all.
 */
export function foldPending(
  builder: Pick<RollupBuilder, 'applyPending' | 'pendingAge' | 'hasPending'>,
  lock: {
    locked: <T>(work: () => T) => T;
    tryLocked: <T>(work: () => T) => { ran: true; value: T } | { ran: false };
  },
  unfoldedMaxAgeMs: number | undefined,
  options: { youngLeftToUpkeep?: boolean; now?: number } = {},
): PendingResult & { unfolded: number; oldestUnfoldedMs: number | null } {
  const folded = (result: PendingResult) => ({ ...result, unfolded: 0, oldestUnfoldedMs: null });
  // nothing to fold: no lock (a rebuild slice may hold it; every order committed before this check is
  // already folded in, so the read waits for nothing)
  if (!builder.hasPending()) return folded({ orders: 0, mode: 'none' });
  if (unfoldedMaxAgeMs === undefined) return folded(lock.locked(() => builder.applyPending()));
  if (!options.youngLeftToUpkeep) {
    const free = lock.tryLocked(() => builder.applyPending());
    if (free.ran) return folded(free.value);
  }
  const { orders, oldestIngestedAt } = builder.pendingAge();
  const age = oldestIngestedAt === null ? null : (options.now ?? Date.now()) - oldestIngestedAt;
  if (orders > 0 && age !== null && age >= unfoldedMaxAgeMs)
    return folded(lock.locked(() => builder.applyPending()));
  return { orders: 0, mode: 'none', unfolded: orders, oldestUnfoldedMs: age };
}
