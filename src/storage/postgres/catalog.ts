import type pg from 'pg';
import { generateApiKey, parseApiKey, secretMatches } from '../../domain/api-key.js';
import { type CreatedTenant, type Tenant, TenantNameTaken } from '../catalog.js';
import type { CatalogStore } from '../catalog-store.js';
import { createTenantPartitions } from './tenant-partitions.js';

/** PostgreSQL's code for a unique violation. */
const UNIQUE_VIOLATION = '23505';

interface TenantRow {
  tenant_id: number;
  name: string;
  created_at: Date;
}

const tenantOf = (r: TenantRow): Tenant => ({
  tenant_id: r.tenant_id,
  name: r.name,
  created_at: r.created_at.toISOString(),
});

/**
 * The catalog on PostgreSQL (issue 17): tenants, API key hashes and settings, the same answers as the
 * SQLite catalog (src/storage/catalog.ts), asynchronous. A tenant is created with its partitions and its
 * first key in one transaction, so a crash leaves either all of it or none; two servers creating the same
 * name at once get one tenant and one TenantNameTaken.
 */
export class PgCatalog implements CatalogStore {
  constructor(private readonly pool: pg.Pool) {}

  async createTenant(name: string): Promise<CreatedTenant> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      let row: TenantRow;
      try {
        row = (
          await client.query<TenantRow>(
            'INSERT INTO tenants (name) VALUES ($1) RETURNING tenant_id, name, created_at',
            [name],
          )
        ).rows[0]!;
      } catch (error) {
        if ((error as { code?: string }).code === UNIQUE_VIOLATION) throw new TenantNameTaken(name);
        throw error;
      }
      await createTenantPartitions(client, row.tenant_id);
      const key = await this.insertKey(client, row.tenant_id);
      await client.query('COMMIT');
      return { ...tenantOf(row), ...key };
    } catch (error) {
      await client.query('ROLLBACK');
      throw error;
    } finally {
      client.release();
    }
  }

  createKey(tenantId: number): Promise<{ api_key: string; key_id: number }> {
    return this.insertKey(this.pool, tenantId);
  }

  private async insertKey(
    db: pg.Pool | pg.PoolClient,
    tenantId: number,
  ): Promise<{ api_key: string; key_id: number }> {
    const key = generateApiKey();
    const { rows } = await db.query<{ key_id: string }>(
      'INSERT INTO api_keys (tenant_id, lookup_id, secret_hash) VALUES ($1, $2, $3) RETURNING key_id',
      [tenantId, key.lookupId, key.secretHash],
    );
    return { api_key: key.apiKey, key_id: Number(rows[0]!.key_id) };
  }

  async revokeKey(tenantId: number, keyId: number): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      'UPDATE api_keys SET revoked_at = now() WHERE key_id = $1 AND tenant_id = $2 AND revoked_at IS NULL',
      [keyId, tenantId],
    );
    return rowCount === 1;
  }

  async listKeys(
    tenantId: number,
  ): Promise<{ key_id: number; created_at: string; revoked_at: string | null }[]> {
    const { rows } = await this.pool.query<{ key_id: string; created_at: Date; revoked_at: Date | null }>(
      'SELECT key_id, created_at, revoked_at FROM api_keys WHERE tenant_id = $1 ORDER BY key_id',
      [tenantId],
    );
    return rows.map((r) => ({
      key_id: Number(r.key_id),
      created_at: r.created_at.toISOString(),
      revoked_at: r.revoked_at?.toISOString() ?? null,
    }));
  }

  /** The tenant and key an API key stands for, or null when it is malformed, unknown, revoked or wrong. */
  async authenticate(apiKey: string): Promise<{ tenantId: number; keyId: number } | null> {
    const parsed = parseApiKey(apiKey);
    if (!parsed) return null;
    const { rows } = await this.pool.query<{ tenant_id: number; key_id: string; secret_hash: Buffer }>(
      'SELECT tenant_id, key_id, secret_hash FROM api_keys WHERE lookup_id = $1 AND revoked_at IS NULL',
      [parsed.lookupId],
    );
    const row = rows[0];
    if (!row || !secretMatches(parsed.secret, row.secret_hash)) return null;
    return { tenantId: row.tenant_id, keyId: Number(row.key_id) };
  }

  async findTenant(name: string): Promise<number | null> {
    const { rows } = await this.pool.query<{ tenant_id: number }>(
      'SELECT tenant_id FROM tenants WHERE name = $1',
      [name],
    );
    return rows[0]?.tenant_id ?? null;
  }

  async tenant(tenantId: number): Promise<Tenant | null> {
    const { rows } = await this.pool.query<TenantRow>(
      'SELECT tenant_id, name, created_at FROM tenants WHERE tenant_id = $1',
      [tenantId],
    );
    return rows[0] ? tenantOf(rows[0]) : null;
  }

  async tenants(): Promise<Tenant[]> {
    const { rows } = await this.pool.query<TenantRow>(
      'SELECT tenant_id, name, created_at FROM tenants ORDER BY tenant_id',
    );
    return rows.map(tenantOf);
  }

  /** A value created once and then the same for every server on this database (e.g. the cursor secret). */
  async stableSetting(name: string, create: () => string): Promise<string> {
    await this.pool.query('INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING', [
      name,
      create(),
    ]);
    const { rows } = await this.pool.query<{ value: string }>('SELECT value FROM settings WHERE name = $1', [
      name,
    ]);
    return rows[0]!.value;
  }

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  /** The pool is the server's (it closes it after everything else that uses it). */
  async close(): Promise<void> {}
}
