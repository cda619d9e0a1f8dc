import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shardQuery } from '../helpers/data.js';
import { ROOT, removeDir, tempDataDir } from '../helpers/server.js';

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

  it('--insert creates the tenants, writes their keys and loads exactly what the files hold', () => {
    const data = tempDataDir('orderflow-gen-data-');
    dirs.push(data);
    const { out, summary } = gen([
      '--preset',
      'tiny',
      '--seed',
      '7',
      '--insert',
      '--data',
      data,
      '--workers',
      '2',
    ]);
    const keys = JSON.parse(readFileSync(join(data, 'keys.json'), 'utf8')) as {
      tenant_id: number;
      api_key: string;
    }[];
    expect(keys).toHaveLength(2);
    expect(keys[0]!.api_key).toMatch(/^of_/);
    for (const table of summary.insert.tables) expect(table.rows_failed).toBe(0);
    for (const k of keys) {
      const dir = join(out, `tenant-0${k.tenant_id}`);
      const orders = readLines(join(dir, 'orders.ndjson'));
      const q = (sql: string) => shardQuery<{ n: number }>(data, k.tenant_id, sql)[0]!.n;
      expect(q('SELECT count(*) AS n FROM orders')).toBe(orders.length);
      expect(q('SELECT count(*) AS n FROM order_items')).toBe(orders.reduce((s, o) => s + o.items.length, 0));
      expect(q('SELECT count(*) AS n FROM products')).toBe(200);
      expect(q('SELECT count(*) AS n FROM price_history')).toBe(2000);
      expect(q('SELECT count(*) AS n FROM stock_events')).toBe(2000);
      expect(q('SELECT count(DISTINCT customer_id) AS n FROM customers')).toBe(
        new Set(orders.map((o) => o.customer_id)).size,
      );
      expect(q('SELECT sum(total_cents) AS n FROM orders')).toBe(
        orders.reduce((s, o) => s + o.total_cents, 0),
      );
      // stock settles to the state after each product's last event
      const events = readLines(join(dir, 'stock_events.ndjson'));
      const last = new Map<number, any>();
      for (const e of events) last.set(e.product_id, e);
      const [pid, e] = [...last.entries()][0]!;
      const row = shardQuery<{ stock: number; stock_version: number }>(
        data,
        k.tenant_id,
        `SELECT stock, stock_version FROM products WHERE product_id = ${pid}`,
      )[0]!;
      expect(row).toEqual({ stock: e.stock_after, stock_version: e.version_after });
    }
    // loading the same files again inserts nothing new
    const again = gen(['--preset', 'tiny', '--seed', '7', '--insert', '--data', data]).summary;
    const ordersLoad = again.insert.tables.find((t: any) => t.table === 'orders');
    expect(ordersLoad).toMatchObject({ rows_inserted: 0, rows_duplicate: 2 * 2000 });
  });
});
