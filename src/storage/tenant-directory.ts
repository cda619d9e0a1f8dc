/**
 * The tenant ids background jobs walk (export and upload sweeps, resumption, rollup catch-up), kept in
 * memory: the catalog is asked at start, after each tenant this server creates, and every `refreshMs`
 * for tenants created elsewhere (another server on the same PostgreSQL, the offline `tenant` command).
 * Jobs need the list synchronously and often; the catalog is asynchronous on PostgreSQL.
 */
import type { CreatedTenant } from './catalog.js';
import type { CatalogStore } from './catalog-store.js';

export class TenantDirectory {
  private known: number[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly store: CatalogStore) {}

  async refresh(): Promise<void> {
    this.known = (await this.store.tenants()).map((t) => t.tenant_id);
  }

  /** Refreshes now and then every `refreshMs`, on an unreferenced timer; failures keep the last list. */
  async start(refreshMs: number, onError: (error: unknown) => void): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => this.refresh().catch(onError), refreshMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  ids(): readonly number[] {
    return this.known;
  }

  /** The catalog, with the tenants this server creates added to the list at once. */
  tracking(): CatalogStore {
    const store = this.store;
    return {
      createTenant: async (name: string): Promise<CreatedTenant> => {
        const created = await store.createTenant(name);
        if (!this.known.includes(created.tenant_id)) this.known = [...this.known, created.tenant_id];
        return created;
      },
      createKey: (tenantId) => store.createKey(tenantId),
      revokeKey: (tenantId, keyId) => store.revokeKey(tenantId, keyId),
      listKeys: (tenantId) => store.listKeys(tenantId),
      authenticate: (apiKey) => store.authenticate(apiKey),
      findTenant: (name) => store.findTenant(name),
      tenant: (tenantId) => store.tenant(tenantId),
      tenants: () => store.tenants(),
      stableSetting: (name, create) => store.stableSetting(name, create),
      ping: () => store.ping(),
      close: () => store.close(),
    };
  }
}
