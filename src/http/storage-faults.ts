import type { Logger } from '../obs/logger.js';
import type { WorkerPool } from '../pool/pool.js';
import type { ShardCheck } from '../storage/shard-check.js';
import { databaseDiskFull, storageFault } from '../storage/storage-fault.js';
import type { StorageHealth } from './health.js';

/**
 * Turns storage failures seen by requests into the server's health: a write that failed for lack of space
 * on this server's disk marks it full (until space is back; PostgreSQL's full disk answers 507 but marks
 * nothing here); a damaged or unreadable shard is checked (quick_check, in a
 * worker) and, when the check fails too, its tenant is marked unavailable, so its requests fail fast with
 * 503 while everyone else is served. One check per tenant at a time.
 */
export class StorageFaults {
  private readonly checking = new Set<number>();

  constructor(
    private readonly pool: WorkerPool,
    private readonly health: StorageHealth,
    private readonly log: Logger,
  ) {}

  observe(error: unknown, tenantId: number | undefined): void {
    const fault = storageFault(error);
    // PostgreSQL's disk full is not this server's: its own files (uploads, exports) may still be written,
    // and the database is every app server's, so this one's /readyz stays as its own disk says
    if (fault === 'disk_full' && !databaseDiskFull(error)) this.health.diskFull();
    if (fault === 'damaged' && tenantId !== undefined) void this.confirm(tenantId);
  }

  /** Runs a check of the tenant's shard and marks it available or not by the result. */
  async check(tenantId: number, mode: 'quick' | 'full'): Promise<ShardCheck> {
    const result = await this.pool.run('checkShard', {
      requestId: `check:${tenantId}`,
      tenantId,
      mode,
    });
    // a check that could not run says nothing about the tenant's data
    if (result.unavailable) return result;
    if (result.ok) this.health.tenantUp(tenantId);
    else this.health.tenantDown(tenantId, `${mode}_check: ${result.messages.slice(0, 3).join('; ')}`);
    this.log.info(
      { tenant_id: tenantId, ...result, messages: result.messages.slice(0, 10) },
      'shard checked',
    );
    return result;
  }

  private async confirm(tenantId: number): Promise<void> {
    if (this.checking.has(tenantId)) return;
    this.checking.add(tenantId);
    try {
      await this.check(tenantId, 'quick');
    } catch (error) {
      this.log.error({ err: error, tenant_id: tenantId }, 'shard check failed to run');
    } finally {
      this.checking.delete(tenantId);
    }
  }
}
