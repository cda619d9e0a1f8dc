/**
 * One run of a tenant's PostgreSQL pre-aggregates' refresh (src/jobs/pg-rollup-refresher.ts schedules it
 * on the upkeep thread): transaction after transaction (refreshTenantRollups: a first build, a backlog's
 * rebuild, or a few writes' orders as deltas) while pending writes remain and the budget lasts.
 *
 * A run that began because the tenant's writes stopped gives way when they start again: a bulk load sent
 * as several requests pauses between them, and a refresh started in that pause took the cores from the
 * next request (100k orders into a fresh tenant, the second request: 14.5k → 10.9k orders/s, with ~2 s of
 * the upkeep thread's CPU and ~2.5 s of V8's collector threads beside it; docs/perf.md). A transaction of
 * it folds up to 50,000 orders and took 7 s beside a load, so the run gives way inside one: when this
 * server starts writing the tenant (`shouldStop`, a flag its main thread sets) the transaction in progress
 * is abandoned and rolled back, and the pending rows it took wait for the load to end (the refresher's quiet
 * rule) or to have lagged `maxLagMs`; a write from another server is seen between transactions (the pending
 * row it committed). What earlier transactions of the run folded stays. A run picked for lag does not give
 * way.
 */
import type { ClientBase } from 'pg';
import {
  databaseNow,
  type RefreshOptions,
  RefreshStopped,
  type RollupRefresh,
  refreshTenantRollups,
  writtenSince,
} from './rollups.js';

export interface RefreshRunOptions extends RefreshOptions {
  /** stop taking pending writes after this long */
  budgetMs: number;
}

export interface RefreshRun {
  /** what the run folded or built, or null when it took nothing (another server holds the tenant) */
  refreshed: RollupRefresh | null;
  /** it stopped because the tenant's writes started again, with pending writes left */
  yielded: boolean;
}

/**
 * With `shouldStop` (a run picked because the tenant's writes had stopped) the run gives way to them:
 * inside a transaction as soon as it says so, and between transactions once a write committed after the run
 * began. Without it (a run picked for lag) it does not.
 */
export async function refreshRun(
  client: ClientBase,
  tenantId: number,
  options: RefreshRunOptions,
): Promise<RefreshRun> {
  const started = performance.now();
  const since = options.shouldStop ? await databaseNow(client) : null;
  const total: RollupRefresh = { mode: 'deltas', writes: 0, rows: 0, orders: 0 };
  let ran = false;
  for (;;) {
    let done: RollupRefresh | null;
    try {
      done = await refreshTenantRollups(client, tenantId, options);
    } catch (error) {
      if (error instanceof RefreshStopped) return { refreshed: ran ? total : null, yielded: true };
      throw error;
    }
    if (!done) break;
    ran = true;
    if (done.mode !== 'deltas') total.mode = done.mode;
    total.writes += done.writes;
    total.rows += done.rows;
    total.orders += done.orders;
    if (done.writes === 0 || done.mode !== 'deltas' || performance.now() - started > options.budgetMs) break;
    if (since !== null && (await writtenSince(client, tenantId, since)))
      return { refreshed: total, yielded: true };
  }
  return { refreshed: ran ? total : null, yielded: false };
}
