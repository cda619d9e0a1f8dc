import type pg from 'pg';
import type { Logger } from '../obs/logger.js';
import type { WorkerPool } from '../pool/pool.js';
import { tenantsWithRollupWork } from '../storage/postgres/rollups.js';
import { startPeriodic } from './periodic.js';

/** How often the refresher looks for tenants with pending days. */
const EVERY_MS = 1000;
/** A tenant is refreshed once no write came for this long (a load has ended) ... */
const QUIET_MS = 1000;
/** ... or once a write has waited this long (a steady stream of orders never goes quiet). */
const MAX_LAG_MS = 30_000;

/**
 * The sales pre-aggregates' refresher on PostgreSQL (src/storage/postgres/rollups.ts): every second, the
 * tenants with pending days (or never built) are refreshed one after the other on the upkeep thread. Every
 * server runs one; a tenant another server is refreshing is skipped (an advisory lock). Returns the
 * function that stops it.
 */
export function startPgRollupRefresher(pool: WorkerPool, db: pg.Pool, log: Logger): () => void {
  return startPeriodic(EVERY_MS, async () => {
    let tenants: number[];
    try {
      tenants = await tenantsWithRollupWork(db, QUIET_MS, MAX_LAG_MS);
    } catch (error) {
      log.warn({ err: error }, 'cannot look for pre-aggregates to refresh');
      return;
    }
    for (const tenantId of tenants) {
      try {
        await pool.background('refreshPgRollups', { requestId: 'rollup-refresh', tenantId });
      } catch (error) {
        log.warn({ err: error, tenant_id: tenantId }, 'refreshing pre-aggregates failed');
      }
    }
  });
}
