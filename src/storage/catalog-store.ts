/**
 * The catalog as the server uses it, on either backend (issue 17): tenants, API keys and stable settings,
 * asynchronous because PostgreSQL's is. SQLite's catalog (src/storage/catalog.ts) answers synchronously and
 * is adapted here; PostgreSQL's (src/storage/postgres/catalog.ts) implements it as is. One contract test
 * file runs both (test/integration/catalog-backends.test.ts).
 */
import type { Catalog, CreatedTenant, Tenant } from './catalog.js';

export interface CatalogStore {
  /** Creates the tenant with its storage (a shard file, or partitions) and a first API key. */
  createTenant(name: string): Promise<CreatedTenant>;
  createKey(tenantId: number): Promise<{ api_key: string; key_id: number }>;
  revokeKey(tenantId: number, keyId: number): Promise<boolean>;
  listKeys(tenantId: number): Promise<{ key_id: number; created_at: string; revoked_at: string | null }[]>;
  /** The tenant and key an API key stands for, or null when it is unknown, revoked or wrong. */
  authenticate(apiKey: string): Promise<{ tenantId: number; keyId: number } | null>;
  findTenant(name: string): Promise<number | null>;
  tenant(tenantId: number): Promise<Tenant | null>;
  tenants(): Promise<Tenant[]>;
  /** A value created once and then the same for every server on this store (the cursor secret). */
  stableSetting(name: string, create: () => string): Promise<string>;
  /** Throws when the store cannot answer (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** SQLite's catalog behind the async interface (its answers are immediate). */
export function sqliteCatalogStore(catalog: Catalog): CatalogStore {
  return {
    createTenant: async (name) => catalog.createTenant(name),
    createKey: async (tenantId) => catalog.createKey(tenantId),
    revokeKey: async (tenantId, keyId) => catalog.revokeKey(tenantId, keyId),
    listKeys: async (tenantId) => catalog.listKeys(tenantId),
    authenticate: async (apiKey) => catalog.authenticate(apiKey),
    findTenant: async (name) => catalog.findTenant(name),
    tenant: async (tenantId) => catalog.tenant(tenantId),
    tenants: async () => catalog.tenants(),
    stableSetting: async (name, create) => catalog.stableSetting(name, create),
    ping: async () => {
      catalog.db.prepare('SELECT 1').get();
    },
    close: async () => catalog.close(),
  };
}
