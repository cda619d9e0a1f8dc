import { statfs } from 'node:fs/promises';
import type { Logger } from '../obs/logger.js';

export interface TenantOutage {
  tenant_id: number;
  reason: string;
  since: string;
}

/**
 * What the server knows about its storage beyond "it answers": tenants whose shard is damaged or cannot be
 * opened (their requests get 503 tenant_unavailable, everyone else is served) and whether writes are
 * failing for lack of disk space (/readyz turns not-ready until free space is back).
 */
export class StorageHealth {
  private readonly outages = new Map<number, TenantOutage>();
  private diskFullSince: number | null = null;

  constructor(
    private readonly dataDir: string,
    /** free space at or under which writes are expected to fail (and new exports and uploads are refused) */
    readonly minimumFree: number,
    private readonly log: Logger,
  ) {}

  tenantDown(tenantId: number, reason: string): void {
    if (this.outages.has(tenantId)) return;
    this.outages.set(tenantId, { tenant_id: tenantId, reason, since: new Date().toISOString() });
    this.log.error({ tenant_id: tenantId, reason }, 'tenant unavailable: its shard is damaged or unreadable');
  }

  tenantUp(tenantId: number): void {
    if (this.outages.delete(tenantId)) this.log.warn({ tenant_id: tenantId }, 'tenant available again');
  }

  outage(tenantId: number): TenantOutage | undefined {
    return this.outages.get(tenantId);
  }

  get unavailableTenants(): TenantOutage[] {
    return [...this.outages.values()];
  }

  /** A write failed for lack of space. */
  diskFull(): void {
    if (this.diskFullSince === null)
      this.log.error({ data_dir: this.dataDir }, 'disk full: writes are failing');
    this.diskFullSince ??= Date.now();
  }

  /** Free bytes on the data directory's file system. */
  async freeBytes(): Promise<number> {
    const s = await statfs(this.dataDir);
    return s.bavail * s.bsize;
  }

  /** Whether writes can be expected to succeed: no recent disk-full, or space has come back since. */
  async writable(): Promise<{ writable: boolean; free_bytes: number }> {
    const free = await this.freeBytes();
    if (this.diskFullSince !== null && free > this.minimumFree) {
      this.log.warn({ free_bytes: free }, 'disk space is back: writes resume');
      this.diskFullSince = null;
    }
    return { writable: this.diskFullSince === null && free > this.minimumFree, free_bytes: free };
  }
}
