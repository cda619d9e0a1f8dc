import type pg from 'pg';
import type { Logger } from '../obs/logger.js';
import type { WorkerPool } from '../pool/pool.js';
import { type RollupWork, tenantsWithRollupWork } from '../storage/postgres/rollups.js';
import { startPeriodic } from './periodic.js';

/** How often the refresher looks for tenants with pending days. */
const EVERY_MS = 1000;
/** A tenant is refreshed once no write came for this long (a load has ended) ... */
const QUIET_MS = 1000;
/** ... or once a write has waited this long (a steady stream of orders never goes quiet). */
const MAX_LAG_MS = 30_000;

/** How often a running refresh's tenant is looked at for writes starting. */
const WATCH_WRITES_MS = 50;

/**
 * One refresh of the tenant on the upkeep thread; with `writing`, a flag shared with it is raised as soon as
 * the tenant is being written, and the refresh gives way (src/storage/postgres/rollup-refresh-run.ts).
 */
export async function refreshGivingWay(
  pool: WorkerPool,
  tenantId: number,
  writing: (() => boolean) | null,
): Promise<void> {
  const task = { requestId: 'rollup-refresh', tenantId };
  if (!writing) {
    await pool.background('refreshPgRollups', { ...task, stopFlag: null });
    return;
  }
  const stopFlag = new SharedArrayBuffer(4);
  const stop = new Int32Array(stopFlag);
  const watch = setInterval(() => {
    if (writing()) Atomics.store(stop, 0, 1);
  }, WATCH_WRITES_MS);
  try {
    await pool.background('refreshPgRollups', { ...task, stopFlag });
  } finally {
    clearInterval(watch);
  }
}

/**
 * The sales pre-aggregates' refresher on PostgreSQL (src/storage/postgres/rollups.ts): every second, the
 * tenants with pending days (or never built) are refreshed one after the other on the upkeep thread. Every
 * server runs one; a tenant another server is refreshing is skipped (an advisory lock). Returns the
 * function that stops it.
 */
export function startPgRollupRefresher(
  pool: WorkerPool,
  db: pg.Pool,
  log: Logger,
  /** whether this server is writing the tenant's rows (a load under way) */
  writing: (tenantId: number) => boolean,
): () => void {
  return startPeriodic(EVERY_MS, async () => {
    let tenants: RollupWork[];
    try {
      tenants = await tenantsWithRollupWork(db, QUIET_MS, MAX_LAG_MS);
    } catch (error) {
      log.warn({ err: error }, 'cannot look for pre-aggregates to refresh');
      return;
    }
    for (const { tenantId, lagging } of tenants) {
      try {
        // one picked because its writes stopped gives way when they start again; one that lagged does not
        await refreshGivingWay(pool, tenantId, lagging ? null : () => writing(tenantId));
      } catch (error) {
        log.warn({ err: error, tenant_id: tenantId }, 'refreshing pre-aggregates failed');
      }
    }
  });
}
