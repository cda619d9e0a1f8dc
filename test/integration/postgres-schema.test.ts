import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { migrationsFor } from '../../src/storage/migrations.js';
import { migratePostgres } from '../../src/storage/postgres/migrations.js';
import { customerSearchText } from '../../src/storage/postgres/search-sql.js';
import {
  createTenantPartitions,
  dropTenantPartitions,
  partitionedTables,
} from '../../src/storage/postgres/tenant-partitions.js';
import { postgresUnavailable, scratchSchema, suiteSchema } from '../helpers/postgres.js';

const unavailable = await postgresUnavailable();
if (unavailable) console.warn(`PostgreSQL schema tests skipped: ${unavailable}`);

/** Applies the migrations before `version` and records them, as a server of that time left the schema. */
async function migrateBefore(c: pg.ClientBase, version: string): Promise<void> {
  await c.query(
    'CREATE TABLE schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
  );
  for (const m of migrationsFor('postgres').filter((m) => m.version < version)) {
    await c.query(m.sql);
    await c.query('INSERT INTO schema_migrations (version) VALUES ($1)', [m.version]);
  }
}

describe.skipIf(unavailable !== null)('the PostgreSQL schema (sql/postgres)', () => {
  const suite = suiteSchema();

  it('applies every migration once, in order, and records it; a second run applies nothing', async () => {
    const { client } = suite;
    const all = migrationsFor('postgres').map((m) => m.version);
    expect(all.length).toBeGreaterThan(0);
    expect(await migratePostgres(client)).toEqual(all);
    expect(await migratePostgres(client)).toEqual([]);
    const { rows } = await client.query('SELECT version FROM schema_migrations ORDER BY version');
    expect(rows.map((r) => r.version)).toEqual(all);
  });

  it('two servers migrating at once take turns: one applies, the other finds nothing to do', async () => {
    const other = await scratchSchema();
    const [a, b] = [await other.connect(), await other.connect()];
    try {
      const results = await Promise.all([migratePostgres(a), migratePostgres(b)]);
      expect(results.map((r) => r.length).sort()).toEqual([0, migrationsFor('postgres').length]);
    } finally {
      await a.end();
      await b.end();
      await other.drop();
    }
  });

  it('partitions every tenant table by tenant_id, which leads every primary key, unique key and B-tree index', async () => {
    const { client } = suite;
    const tables = await partitionedTables(client);
    expect(tables).toEqual(
      expect.arrayContaining(['orders', 'order_items', 'customers', 'products', 'price_events', 'exports']),
    );
    const { rows: strategies } = await client.query(
      `SELECT c.relname, p.partstrat, a.attname
         FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = p.partattrs[0]
        WHERE c.relnamespace = current_schema()::regnamespace`,
    );
    for (const s of strategies) expect(s, s.relname).toMatchObject({ partstrat: 'l', attname: 'tenant_id' });
    const { rows: indexes } = await client.query(
      `SELECT t.relname AS table, i.relname AS index, am.amname AS method,
              (SELECT attname FROM pg_attribute WHERE attrelid = t.oid AND attnum = x.indkey[0]) AS first
         FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
         JOIN pg_am am ON am.oid = i.relam
        WHERE t.relkind = 'p' AND t.relnamespace = current_schema()::regnamespace`,
    );
    expect(indexes.length).toBeGreaterThan(tables.length);
    // a GIN index lives in one tenant's partition, so it is already that tenant's
    for (const index of indexes.filter((i) => i.method === 'btree'))
      expect(index.first, `${index.table}.${index.index}`).toBe('tenant_id');
  });

  it("gives each tenant its own partitions; a tenant's rows go to them, and dropping them deletes the tenant", async () => {
    const { client } = suite;
    await client.query("INSERT INTO tenants (tenant_id, name) VALUES (1, 'acme'), (2, 'globex')");
    await createTenantPartitions(client, 1);
    await createTenantPartitions(client, 2);
    await createTenantPartitions(client, 2); // again: nothing changes
    // the full-text column as the writer fills it (migration 018)
    const insertCustomer = (tenant: number, name: string) => {
      const email = `${name.toLowerCase()}@example.com`;
      return client.query(
        `INSERT INTO customers (tenant_id, customer_id, name, email, search)
         VALUES ($1, $2, $3, $4, to_tsvector('simple', $5)) RETURNING customer_pk`,
        [tenant, `C-${name}`, name, email, customerSearchText(name, email)],
      );
    };
    const ada = (await insertCustomer(1, 'Ada Lovelace')).rows[0].customer_pk;
    await insertCustomer(2, 'Grace Hopper');
    await client.query(
      `INSERT INTO orders (tenant_id, order_id, customer_pk, status, currency, created_at, total_cents, item_count, units, ingested_at)
       VALUES (1, 'A-1', $1, 'paid', 'USD', now(), 3998, 1, 2, now())`,
      [ada],
    );
    const { rows: located } = await client.query(
      "SELECT tableoid::regclass::text AS partition FROM orders WHERE order_id = 'A-1'",
    );
    expect(located[0].partition).toBe('orders_t1');
    // full text, prefix terms, as the FTS5 search does
    const { rows: found } = await client.query(
      "SELECT name FROM customers WHERE tenant_id = 1 AND search @@ to_tsquery('simple', 'ada:*')",
    );
    expect(found.map((r) => r.name)).toEqual(['Ada Lovelace']);
    // a tenant without partitions has nowhere to put rows
    await expect(
      client.query(
        "INSERT INTO products (tenant_id, product_id, sku, name, category, price_cents, updated_at) VALUES (3, 1, 's', 'n', 'c', 1, now())",
      ),
    ).rejects.toThrow(/no partition/);
    await dropTenantPartitions(client, 1);
    expect((await client.query('SELECT count(*)::int AS n FROM customers')).rows[0].n).toBe(1);
    expect((await client.query("SELECT to_regclass('orders_t1') AS t")).rows[0].t).toBeNull();
    expect((await client.query("SELECT to_regclass('orders_t2') AS t")).rows[0].t).toBe('orders_t2');
    // the other tenants keep their data and their keys
    await expect(
      client.query(
        `INSERT INTO customers (tenant_id, customer_id, name, email) VALUES (2, 'C-Grace Hopper', 'x', 'x@example.com')`,
      ),
    ).rejects.toThrow(/duplicate key/);
  });

  it("builds a tenant's partitions (made apart, then attached) column for column like their parents, with every index", async () => {
    const { client } = suite;
    await client.query("INSERT INTO tenants (tenant_id, name) VALUES (5, 'initech')");
    await createTenantPartitions(client, 5);
    const columns = (relation: string) =>
      client.query(
        `SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull, a.attgenerated,
                a.attcompression, a.attstorage, pg_get_expr(d.adbin, d.adrelid) AS default_value
           FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
          WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
        [relation],
      );
    const indexesOf = async (relation: string) =>
      (
        await client.query(`SELECT count(*)::int AS n FROM pg_index WHERE indrelid = $1::regclass`, [
          relation,
        ])
      ).rows[0].n;
    for (const table of await partitionedTables(client)) {
      const partition = `${table}_t5`;
      expect((await columns(partition)).rows, partition).toEqual((await columns(table)).rows);
      expect(await indexesOf(partition), partition).toBe(await indexesOf(table));
      const { rows } = await client.query(
        'SELECT inhparent::regclass::text AS parent FROM pg_inherits WHERE inhrelid = $1::regclass',
        [partition],
      );
      expect(rows).toEqual([{ parent: table }]);
    }
    // upload pieces are compressed with lz4 where the server has it (migration 009)
    const { rows: lz4 } = await client.query(
      "SELECT attcompression FROM pg_attribute WHERE attrelid = 'upload_bytes_t5'::regclass AND attname = 'bytes'",
    );
    expect(['l', '']).toContain(lz4[0].attcompression);
    await dropTenantPartitions(client, 5);
  });

  it('gives a table added by a later migration to the tenants that already exist', async () => {
    const { client } = suite;
    await client.query(
      'CREATE TABLE later_table (tenant_id integer NOT NULL, x int, PRIMARY KEY (tenant_id)) PARTITION BY LIST (tenant_id)',
    );
    await migratePostgres(client);
    expect((await client.query("SELECT to_regclass('later_table_t2') AS t")).rows[0].t).toBe(
      'later_table_t2',
    );
  });

  it('migration 011 gives the orders already stored their units (the sum of their lines), as the writer does', async () => {
    const own = await scratchSchema();
    const c = await own.connect();
    try {
      await migrateBefore(c, '011');
      await c.query("INSERT INTO tenants (name) VALUES ('before-units')");
      const { rows } = await c.query<{ tenant_id: number }>('SELECT tenant_id FROM tenants');
      const t = rows[0]!.tenant_id;
      await createTenantPartitions(c, t);
      await c.query(
        "INSERT INTO customers (tenant_id, customer_id, name, email) VALUES ($1, 'C-1', 'n', 'e')",
        [t],
      );
      await c.query(
        `INSERT INTO orders (tenant_id, order_id, customer_pk, status, currency, created_at, total_cents, item_count, ingested_at)
         SELECT $1, 'O-' || n, (SELECT customer_pk FROM customers LIMIT 1), 'paid', 'USD', now(), 100, 2, now()
           FROM generate_series(1, 3) n`,
        [t],
      );
      await c.query(
        `INSERT INTO order_items (tenant_id, order_pk, line_no, product_id, quantity, unit_price_cents)
         SELECT $1, o.order_pk, l, l, l * 2 + o.order_pk, 10 FROM orders o, generate_series(1, 2) l`,
        [t],
      );
      expect(await migratePostgres(c)).toContain('011_order_units');
      const units = await c.query<{ units: number; want: number }>(
        `SELECT o.units, (SELECT sum(quantity)::int FROM order_items i WHERE i.order_pk = o.order_pk) AS want
           FROM orders o ORDER BY o.order_pk`,
      );
      expect(units.rows.length).toBe(3);
      for (const r of units.rows) expect(r.units).toBe(r.want);
    } finally {
      await c.end();
      await own.drop();
    }
  });

  it("migration 018: the customers' full-text column stops being generated, keeps its vectors, and the writer's words make the same ones", async () => {
    const own = await scratchSchema();
    const c = await own.connect();
    try {
      await migrateBefore(c, '018');
      await c.query("INSERT INTO tenants (name) VALUES ('before-018')");
      const t = (await c.query<{ tenant_id: number }>('SELECT tenant_id FROM tenants')).rows[0]!.tenant_id;
      await createTenantPartitions(c, t);
      const people: [string, string][] = [
        ['Ada Lovelace', 'ada@example.com'],
        ['Édith Piaf', 'e.piaf@example.fr'],
        ['José Müller-Lüdenscheid', 'jose_mueller+orders@sub.example.co.uk'],
        ["Zoë O'Brien Ångström", 'ZOE.OBRIEN@Example.COM'],
        ['Ελένη Παπαδοπούλου', 'eleni@example.gr'],
        ['Łukasz Đorđević', 'lukasz99@example.pl'],
        ['李小龙 Bruce', 'bruce.lee@example.cn'],
        ['tab\there, new\nline', 'a1b2c3@x.io'],
        ['  spaced   out  ', '...@@@...'],
      ];
      for (const [i, [name, email]] of people.entries())
        await c.query('INSERT INTO customers (tenant_id, customer_id, name, email) VALUES ($1, $2, $3, $4)', [
          t,
          `C-${i}`,
          name,
          email,
        ]);
      const before = await c.query<{ customer_id: string; search: string }>(
        'SELECT customer_id, search::text FROM customers ORDER BY customer_id',
      );
      expect(await migratePostgres(c)).toContain('018_customer_search_from_writer');
      const after = await c.query<{ customer_id: string; search: string }>(
        'SELECT customer_id, search::text FROM customers ORDER BY customer_id',
      );
      expect(after.rows).toEqual(before.rows);
      const generated = await c.query(
        "SELECT attgenerated FROM pg_attribute WHERE attrelid = to_regclass('customers') AND attname = 'search'",
      );
      expect(generated.rows[0]!.attgenerated).toBe('');
      for (const [i, [name, email]] of people.entries()) {
        const written = await c.query<{ search: string }>(
          "SELECT to_tsvector('simple', $1)::text AS search",
          [customerSearchText(name, email)],
        );
        expect(written.rows[0]!.search, `${name} ${email}`).toBe(
          before.rows.find((r) => r.customer_id === `C-${i}`)!.search,
        );
      }
    } finally {
      await c.end();
      await own.drop();
    }
  });
});
