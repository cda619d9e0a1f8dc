import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shardQuery } from '../helpers/data.js';
import { postgresUnavailable, scratchSchema } from '../helpers/postgres.js';
import { auth, ROOT, removeDir, startServer, tempDataDir } from '../helpers/server.js';

const dirs: string[] = [];
function gen(args: string[]): { out: string; summary: Record<string, any> } {
  const out = tempDataDir('orderflow-gen-');
  dirs.push(out);
  const stdout = execFileSync(
    process.execPath,
    [join(ROOT, 'dist/tools/gen-dataset.js'), '--out', out, ...args],
    { encoding: 'utf8' },
  );
  const last = stdout.trim().split('\n').at(-1)!;
  return { out, summary: JSON.parse(last) };
}

function digestTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of readdirSync(dir, { withFileTypes: true })) {
    if (!t.isDirectory()) continue;
    for (const f of readdirSync(join(dir, t.name))) {
      out[`${t.name}/${f}`] = createHash('sha256')
        .update(readFileSync(join(dir, t.name, f)))
        .digest('hex');
    }
  }
  return out;
}

const readLines = (path: string) =>
  (path.endsWith('.gz') ? gunzipSync(readFileSync(path)) : readFileSync(path))
    .toString('utf8')
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l));

const pgSkip = await postgresUnavailable();

function readKeys(data: string): { tenant_id: number; api_key: string }[] {
  const keys = JSON.parse(readFileSync(join(data, 'keys.json'), 'utf8')) as {
    tenant_id: number;
    api_key: string;
  }[];
  expect(keys).toHaveLength(2);
  expect(keys[0]!.api_key).toMatch(/^of_/);
  return keys;
}

/**
 * A tenant's tables hold exactly what its files do, and its stock settled to the state after each
 * product's last event; `value` runs `SELECT … AS n FROM <table> [WHERE …]` on the tenant's data.
 */
async function expectLoaded(dir: string, value: (sql: string) => Promise<number>): Promise<void> {
  const orders = readLines(join(dir, 'orders.ndjson'));
  expect(await value('SELECT count(*) AS n FROM orders')).toBe(orders.length);
  expect(await value('SELECT count(*) AS n FROM order_items')).toBe(
    orders.reduce((s, o) => s + o.items.length, 0),
  );
  expect(await value('SELECT count(*) AS n FROM products')).toBe(200);
  expect(await value('SELECT count(*) AS n FROM price_history')).toBe(2000);
  expect(await value('SELECT count(*) AS n FROM stock_events')).toBe(2000);
  expect(await value('SELECT count(DISTINCT customer_id) AS n FROM customers')).toBe(
    new Set(orders.map((o) => o.customer_id)).size,
  );
  expect(await value('SELECT sum(total_cents) AS n FROM orders')).toBe(
    orders.reduce((s, o) => s + o.total_cents, 0),
  );
  const events = readLines(join(dir, 'stock_events.ndjson'));
  const last = new Map<number, any>();
  for (const e of events) last.set(e.product_id, e);
  for (const [pid, e] of [...last.entries()].slice(0, 5)) {
    expect(await value(`SELECT stock AS n FROM products WHERE product_id = ${pid}`)).toBe(e.stock_after);
    expect(await value(`SELECT stock_version AS n FROM products WHERE product_id = ${pid}`)).toBe(
      e.version_after,
    );
  }
}

/** No row failed in the first load; loading the same files again inserts nothing new. */
function expectLoadReport(first: Record<string, any>, again: Record<string, any>): void {
  for (const table of first.insert.tables) expect(table.rows_failed).toBe(0);
  const ordersLoad = again.insert.tables.find((t: any) => t.table === 'orders');
  expect(ordersLoad).toMatchObject({ rows_inserted: 0, rows_duplicate: 2 * 2000 });
  for (const table of again.insert.tables) expect(table.rows_inserted).toBe(0);
}

let first: { out: string; summary: Record<string, any> };
beforeAll(() => {
  first = gen(['--preset', 'tiny', '--seed', '7', '--format', 'both']);
});
afterAll(() => dirs.forEach(removeDir));

describe('gen-dataset', () => {
  it('the same seed gives byte-identical files (plain and gzip); another seed differs', () => {
    const again = gen(['--preset', 'tiny', '--seed', '7', '--format', 'both']);
    const a = digestTree(first.out);
    expect(Object.keys(a).length).toBe(2 * 9);
    expect(digestTree(again.out)).toEqual(a);
    const gz1 = gen(['--preset', 'tiny', '--seed', '7', '--gzip', '--tenants', '1']);
    const gz2 = gen(['--preset', 'tiny', '--seed', '7', '--gzip', '--tenants', '1']);
    expect(digestTree(gz1.out)).toEqual(digestTree(gz2.out));
    expect(readLines(join(gz1.out, 'tenant-01/orders.ndjson.gz'))).toEqual(
      readLines(join(first.out, 'tenant-01/orders.ndjson')),
    );
    const other = gen(['--preset', 'tiny', '--seed', '8', '--tenants', '1']);
    expect(digestTree(other.out)['tenant-01/orders.ndjson']).not.toBe(a['tenant-01/orders.ndjson']);
  });

  it('writes the row counts asked for, with referential integrity and realistic shapes', () => {
    const dir = join(first.out, 'tenant-01');
    const products = readLines(join(dir, 'products.ndjson'));
    const orders = readLines(join(dir, 'orders.ndjson'));
    expect(products).toHaveLength(200);
    expect(orders).toHaveLength(2000);
    expect(readLines(join(dir, 'price_history.ndjson'))).toHaveLength(200 * 10);
    expect(readLines(join(dir, 'stock_events.ndjson'))).toHaveLength(2000);
    const ids = new Set(products.map((p) => p.product_id));
    let items = 0;
    const statuses = new Map<string, number>();
    const popularity = new Map<number, number>();
    for (const o of orders) {
      expect(o.total_cents).toBe(
        o.items.reduce((s: number, it: any) => s + it.quantity * it.unit_price_cents, 0),
      );
      for (const it of o.items) {
        expect(ids.has(it.product_id)).toBe(true);
        popularity.set(it.product_id, (popularity.get(it.product_id) ?? 0) + 1);
        items++;
      }
      statuses.set(o.status, (statuses.get(o.status) ?? 0) + 1);
    }
    expect(items / orders.length).toBeGreaterThan(2.5);
    expect(items / orders.length).toBeLessThan(3.2);
    for (const s of ['paid', 'shipped', 'delivered', 'cancelled', 'refunded', 'pending'])
      expect(statuses.get(s)).toBeGreaterThan(0);
    // skewed popularity: the top 10% of products carry far more than 10% of the lines
    const counts = [...popularity.values()].sort((a, b) => b - a);
    const top = counts.slice(0, 20).reduce((a, b) => a + b, 0);
    expect(top / items).toBeGreaterThan(0.3);
    // the CSV twin has the same rows (+ header), items split into order_items.csv
    const csv = readFileSync(join(dir, 'orders.csv'), 'utf8').trimEnd().split('\r\n');
    expect(csv).toHaveLength(2001);
    expect(readFileSync(join(dir, 'order_items.csv'), 'utf8').trimEnd().split('\r\n')).toHaveLength(
      items + 1,
    );
  });

  it('customers repeat: far fewer distinct customers than orders, with a heavy head; one name and email per customer', () => {
    const orders = readLines(join(first.out, 'tenant-01/orders.ndjson'));
    const perCustomer = new Map<string, number>();
    const identity = new Map<string, string>();
    for (const o of orders) {
      perCustomer.set(o.customer_id, (perCustomer.get(o.customer_id) ?? 0) + 1);
      const who = `${o.customer_name}|${o.customer_email}`;
      expect(identity.get(o.customer_id) ?? who).toBe(who);
      identity.set(o.customer_id, who);
    }
    expect(perCustomer.size).toBeLessThan(orders.length * 0.5);
    expect(Math.max(...perCustomer.values())).toBeGreaterThanOrEqual(5);
    expect([...perCustomer.values()].filter((n) => n === 1).length).toBeGreaterThan(0);
  });

  it('--insert creates the tenants, writes their keys and loads exactly what the files hold', async () => {
    const data = tempDataDir('orderflow-gen-data-');
    dirs.push(data);
    const load = ['--preset', 'tiny', '--seed', '7', '--insert', '--data', data];
    const { out, summary } = gen([...load, '--workers', '2']);
    const keys = readKeys(data);
    for (const k of keys) {
      await expectLoaded(join(out, `tenant-0${k.tenant_id}`), async (sql) =>
        Number(shardQuery<{ n: number }>(data, k.tenant_id, sql)[0]!.n),
      );
    }
    expectLoadReport(summary, gen(load).summary);
  });

  describe.skipIf(pgSkip !== null)(
    `--insert --storage postgres${pgSkip ? ` (skipped: ${pgSkip})` : ''}`,
    () => {
      it('loads every table of every tenant into PostgreSQL, and a server on that database serves them', async () => {
        const schema = await scratchSchema();
        const client = await schema.connect();
        try {
          const data = tempDataDir('orderflow-gen-keys-');
          dirs.push(data);
          const load = ['--preset', 'tiny', '--seed', '7', '--insert', '--data', data];
          const postgres = ['--storage', 'postgres', '--database-url', schema.url];
          const { out, summary } = gen([...load, ...postgres, '--workers', '2']);
          const keys = readKeys(data);
          for (const k of keys) {
            // the same statements as on a shard, restricted to the tenant
            await expectLoaded(join(out, `tenant-0${k.tenant_id}`), async (sql) => {
              const scoped = sql.replace(/FROM (\w+)( WHERE)?/, (_m, table: string, where?: string) =>
                where ? `FROM ${table} WHERE tenant_id = $1 AND` : `FROM ${table} WHERE tenant_id = $1`,
              );
              return Number((await client.query(scoped, [k.tenant_id])).rows[0]!.n);
            });
          }
          expectLoadReport(summary, gen([...load, ...postgres]).summary);
          // the loaded tenants are the server's: its catalog knows their keys, its search finds their orders
          const server = await startServer({ args: postgres });
          try {
            const [k] = keys;
            const orders = readLines(join(out, `tenant-0${k!.tenant_id}`, 'orders.ndjson'));
            const res = await fetch(
              `${server.url}/api/v1/tenants/${k!.tenant_id}/orders/search?format=json&limit=10000&fields=order_id`,
              { headers: auth(k!.api_key) },
            );
            expect(res.status).toBe(200);
            const doc = (await res.json()) as { data: { order_id: string }[] };
            expect(doc.data.map((r) => r.order_id).sort()).toEqual(orders.map((o) => o.order_id).sort());
          } finally {
            await server.stop();
          }
        } finally {
          await client.end();
          await schema.drop();
        }
      });
    },
  );
});
