import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Catalog, TenantNameTaken } from '../../src/storage/catalog.js';
import { type CatalogStore, sqliteCatalogStore } from '../../src/storage/catalog-store.js';
import { PgCatalog } from '../../src/storage/postgres/catalog.js';
import { migratePostgres } from '../../src/storage/postgres/migrations.js';
import { postgresUnavailable, scratchSchema } from '../helpers/postgres.js';
import { removeDir, tempDataDir } from '../helpers/server.js';

/** What both catalogs answer: the server's seam (src/storage/catalog-store.ts). */
type AnyCatalog = CatalogStore;

interface Backend {
  name: string;
  skip: string | null;
  open(): Promise<{
    catalog: AnyCatalog;
    second: () => Promise<AnyCatalog>;
    /** the database itself, to look behind the catalog (PostgreSQL only) */
    pool?: pg.Pool;
    close(): Promise<void>;
  }>;
}

const pgUnavailable = await postgresUnavailable();
if (pgUnavailable) console.warn(`catalog tests on PostgreSQL skipped: ${pgUnavailable}`);

const BACKENDS: Backend[] = [
  {
    name: 'sqlite',
    skip: null,
    async open() {
      const dir = tempDataDir();
      const catalog = new Catalog(dir);
      const others: Catalog[] = [];
      return {
        catalog: sqliteCatalogStore(catalog),
        second: async () => {
          const other = new Catalog(dir);
          others.push(other);
          return sqliteCatalogStore(other);
        },
        async close() {
          for (const c of [catalog, ...others]) c.close();
          removeDir(dir);
        },
      };
    },
  },
  {
    name: 'postgres',
    skip: pgUnavailable,
    async open() {
      const schema = await scratchSchema();
      const pools: pg.Pool[] = [];
      const open = async () => {
        const pool = schema.pool();
        pools.push(pool);
        const client = await pool.connect();
        await migratePostgres(client);
        client.release();
        return new PgCatalog(pool);
      };
      const catalog = await open();
      return {
        catalog,
        second: open,
        pool: pools[0],
        async close() {
          for (const p of pools) await p.end();
          await schema.drop();
        },
      };
    },
  },
];

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip !== null)(`the catalog on ${backend.name}`, () => {
    let opened: Awaited<ReturnType<Backend['open']>>;
    beforeAll(async () => {
      opened = await backend.open();
    });
    afterAll(async () => opened?.close());

    it('creates a tenant with a first key that authenticates; names are unique', async () => {
      const { catalog } = opened;
      const acme = await catalog.createTenant('acme');
      expect(acme).toMatchObject({ name: 'acme', tenant_id: expect.any(Number), key_id: expect.any(Number) });
      expect(await catalog.authenticate(acme.api_key)).toEqual({
        tenantId: acme.tenant_id,
        keyId: acme.key_id,
      });
      await expect(async () => catalog.createTenant('acme')).rejects.toThrow(TenantNameTaken);
      expect(await catalog.findTenant('acme')).toBe(acme.tenant_id);
      expect(await catalog.tenant(acme.tenant_id)).toMatchObject({ name: 'acme' });
      expect((await catalog.tenants()).map((t) => t.name)).toContain('acme');
      await expect(catalog.ping()).resolves.toBeUndefined();
    });

    // PostgreSQL only: its tenants have partitions (SQLite's have shard files, tested with the catalog)
    if (backend.name === 'postgres')
      it('creates the tenant with its partitions, in the same transaction', async () => {
        const pool = opened.pool!;
        const t = await opened.catalog.createTenant('partitioned');
        const { rows } = await pool.query('SELECT to_regclass($1) AS orders, to_regclass($2) AS items', [
          `orders_t${t.tenant_id}`,
          `order_items_t${t.tenant_id}`,
        ]);
        expect(rows[0]).toEqual({ orders: `orders_t${t.tenant_id}`, items: `order_items_t${t.tenant_id}` });
      });

    it('refuses malformed, unknown, altered and revoked keys; a new key works until revoked', async () => {
      const { catalog } = opened;
      const t = await catalog.createTenant('keys');
      const extra = await catalog.createKey(t.tenant_id);
      expect(await catalog.authenticate('nonsense')).toBeNull();
      expect(
        await catalog.authenticate(`${extra.api_key.slice(0, -1)}${extra.api_key.endsWith('a') ? 'b' : 'a'}`),
      ).toBeNull();
      expect(await catalog.authenticate(extra.api_key)).toEqual({
        tenantId: t.tenant_id,
        keyId: extra.key_id,
      });
      expect(await catalog.revokeKey(t.tenant_id + 1000, extra.key_id)).toBe(false);
      expect(await catalog.revokeKey(t.tenant_id, extra.key_id)).toBe(true);
      expect(await catalog.revokeKey(t.tenant_id, extra.key_id)).toBe(false);
      expect(await catalog.authenticate(extra.api_key)).toBeNull();
      const keys = await catalog.listKeys(t.tenant_id);
      expect(keys.map((k) => k.key_id)).toEqual([t.key_id, extra.key_id]);
      expect(keys[1]!.revoked_at).toEqual(expect.any(String));
    });

    it('two catalogs on the same store: one tenant per name, one stable setting, keys valid on both', async () => {
      const { catalog } = opened;
      const other = await opened.second();
      const results = await Promise.allSettled([
        (async () => catalog.createTenant('race'))(),
        (async () => other.createTenant('race'))(),
      ]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect(lost.reason).toBeInstanceOf(TenantNameTaken);
      const won = (
        results.find((r) => r.status === 'fulfilled') as PromiseFulfilledResult<{ api_key: string }>
      ).value;
      expect(await other.authenticate(won.api_key)).not.toBeNull();
      const [a, b] = await Promise.all([
        catalog.stableSetting('cursor_secret', () => 'from-a'),
        other.stableSetting('cursor_secret', () => 'from-b'),
      ]);
      expect(a).toBe(b);
      expect(await catalog.stableSetting('cursor_secret', () => 'later')).toBe(a);
    });
  });
}
