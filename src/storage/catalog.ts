import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { generateApiKey, parseApiKey, secretMatches } from '../domain/api-key.js';
import { NamedError } from '../domain/named-error.js';
import { migrate } from './migrations.js';
import { prepareShard, shardFileName } from './shards.js';
import { type Db, openDatabase } from './sqlite.js';

export interface Tenant {
  tenant_id: number;
  name: string;
  created_at: string;
}

export interface CreatedTenant extends Tenant {
  api_key: string;
  key_id: number;
}

export class TenantNameTaken extends NamedError {}

/** Tenants, API key hashes and the shard map. Every query here is a point lookup. */
export class Catalog {
  readonly db: Db;
  private readonly stmts;

  constructor(readonly dataDir: string) {
    mkdirSync(dataDir, { recursive: true });
    this.db = openDatabase(join(dataDir, 'catalog.db'), { cacheMiB: 4 });
    migrate(this.db, 'catalog');
    this.stmts = {
      insertTenant: this.db.prepare(
        'INSERT INTO tenants (name, shard_file, created_at) VALUES (?, ?, ?) RETURNING tenant_id',
      ),
      setShardFile: this.db.prepare('UPDATE tenants SET shard_file = ? WHERE tenant_id = ?'),
      tenantByName: this.db.prepare('SELECT tenant_id FROM tenants WHERE name = ?'),
      tenant: this.db.prepare('SELECT tenant_id, name, created_at FROM tenants WHERE tenant_id = ?'),
      tenants: this.db.prepare('SELECT tenant_id, name, created_at FROM tenants ORDER BY tenant_id'),
      insertKey: this.db.prepare(
        'INSERT INTO api_keys (tenant_id, lookup_id, secret_hash, created_at) VALUES (?, ?, ?, ?) RETURNING key_id',
      ),
      keyByLookup: this.db.prepare(
        'SELECT tenant_id, key_id, secret_hash FROM api_keys WHERE lookup_id = ? AND revoked_at IS NULL',
      ),
      revokeKey: this.db.prepare(
        'UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND tenant_id = ? AND revoked_at IS NULL',
      ),
      keys: this.db.prepare(
        'SELECT key_id, created_at, revoked_at FROM api_keys WHERE tenant_id = ? ORDER BY key_id',
      ),
      getSetting: this.db.prepare('SELECT value FROM settings WHERE name = ?'),
      putSetting: this.db.prepare('INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT DO NOTHING'),
    };
  }

  /** Creates the tenant row, its shard file (migrated) and a first API key. */
  createTenant(name: string): CreatedTenant {
    const created_at = new Date().toISOString();
    const row = this.db.transaction(() => {
      if (this.stmts.tenantByName.get(name)) throw new TenantNameTaken(name);
      const placeholder = `pending-${process.pid}-${Date.now()}-${Math.random()}`;
      const { tenant_id } = this.stmts.insertTenant.get(name, placeholder, created_at) as {
        tenant_id: number;
      };
      this.stmts.setShardFile.run(shardFileName(tenant_id), tenant_id);
      return { tenant_id };
    })();
    prepareShard(this.dataDir, row.tenant_id);
    const key = this.createKey(row.tenant_id);
    return { tenant_id: row.tenant_id, name, created_at, api_key: key.api_key, key_id: key.key_id };
  }

  createKey(tenantId: number): { api_key: string; key_id: number } {
    const key = generateApiKey();
    const { key_id } = this.stmts.insertKey.get(
      tenantId,
      key.lookupId,
      key.secretHash,
      new Date().toISOString(),
    ) as {
      key_id: number;
    };
    return { api_key: key.apiKey, key_id };
  }

  revokeKey(tenantId: number, keyId: number): boolean {
    return this.stmts.revokeKey.run(new Date().toISOString(), keyId, tenantId).changes === 1;
  }

  listKeys(tenantId: number): { key_id: number; created_at: string; revoked_at: string | null }[] {
    return this.stmts.keys.all(tenantId) as {
      key_id: number;
      created_at: string;
      revoked_at: string | null;
    }[];
  }

  /** The tenant a key belongs to, or null for a malformed, unknown or revoked key. */
  /** The tenant and key an API key stands for, or null when it is unknown, revoked or wrong. */
  authenticate(apiKey: string): { tenantId: number; keyId: number } | null {
    const parsed = parseApiKey(apiKey);
    if (!parsed) return null;
    const row = this.stmts.keyByLookup.get(parsed.lookupId) as
      | { tenant_id: number; key_id: number; secret_hash: Buffer }
      | undefined;
    if (!row) return null;
    return secretMatches(parsed.secret, row.secret_hash)
      ? { tenantId: row.tenant_id, keyId: row.key_id }
      : null;
  }

  findTenant(name: string): number | null {
    return (this.stmts.tenantByName.get(name) as { tenant_id: number } | undefined)?.tenant_id ?? null;
  }

  tenant(tenantId: number): Tenant | null {
    return (this.stmts.tenant.get(tenantId) as Tenant | undefined) ?? null;
  }

  tenants(): Tenant[] {
    return this.stmts.tenants.all() as Tenant[];
  }

  /** A value created once and then stable for the life of the data dir (e.g. the cursor secret). */
  stableSetting(name: string, create: () => string): string {
    this.stmts.putSetting.run(name, create());
    return (this.stmts.getSetting.get(name) as { value: string }).value;
  }

  close(): void {
    this.db.close();
  }
}
