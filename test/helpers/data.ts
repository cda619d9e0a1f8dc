import Database from 'better-sqlite3';
import { shardPath } from '../../src/storage/shards.js';

export function product(id: number, extra: Record<string, unknown> = {}) {
  return {
    product_id: id,
    sku: `SKU-${id}`,
    name: `Product ${id}`,
    category: id % 2 ? 'shoes' : 'bags',
    price_cents: 1000 + id,
    stock: 10,
    ...extra,
  };
}

export function order(n: number, extra: Record<string, unknown> = {}) {
  return {
    order_id: `A-${n}`,
    customer_id: `C-${n % 7}`,
    customer_name: `Ada Lovelace${n % 7}`,
    customer_email: `ada${n % 7}@example.com`,
    status: 'paid',
    currency: 'USD',
    created_at: new Date(Date.UTC(2026, 2, 1) + n * 60_000).toISOString(),
    total_cents: 2 * 1999,
    items: [{ product_id: 1 + (n % 3), quantity: 2, unit_price_cents: 1999 }],
    ...extra,
  };
}

export function ndjson(rows: readonly unknown[]): string {
  return rows.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join('\n') + '\n';
}

/** Reads a tenant's shard directly (read-only) to check what is really stored. */
export function shardQuery<T = Record<string, unknown>>(
  dataDir: string,
  tenantId: number,
  sql: string,
  ...params: unknown[]
): T[] {
  const db = new Database(shardPath(dataDir, tenantId), { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}

export function countRows(dataDir: string, tenantId: number, table: string): number {
  return shardQuery<{ n: number }>(dataDir, tenantId, `SELECT count(*) AS n FROM ${table}`)[0]!.n;
}

export type Item = { product_id: number; quantity: number; unit_price_cents: number };

/** An order as the ingest endpoint takes it. */
export type Order = {
  order_id: string;
  customer_id: string;
  customer_name: string;
  customer_email: string;
  status: string;
  currency: string;
  created_at: string;
  total_cents: number;
  items: Item[];
};

export const STATUSES = ['pending', 'paid', 'shipped', 'delivered', 'cancelled', 'refunded'];
const NAMES = [
  'Ada Lovelace',
  'Alan Turing',
  'Grace Hopper',
  'Édith Piaf',
  'Linus Torvalds',
  "Miles O'Brien",
];
const BASE = Date.UTC(2026, 0, 1);

/** A deterministic spread of orders, with many created_at ties to exercise the tiebreak. */
export function makeOrders(count: number, prefix: string, seed = 1): Order[] {
  let s = seed;
  const rand = () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 2 ** 32;
  };
  return Array.from({ length: count }, (_, i) => {
    const c = Math.floor(rand() * 40);
    const items = Array.from({ length: 1 + Math.floor(rand() * 3) }, (_, k) => ({
      product_id: 1 + ((i + k * 3) % 8),
      quantity: 1 + Math.floor(rand() * 3),
      unit_price_cents: 100 + Math.floor(rand() * 5000),
    }));
    return {
      order_id: `${prefix}-${i}`,
      customer_id: `C-${c}`,
      customer_name: `${NAMES[c % NAMES.length]} ${c}`,
      customer_email: `cust${c}@shop${c % 3}.example`,
      status: STATUSES[Math.floor(rand() * STATUSES.length)]!,
      currency: 'USD',
      // every 10 minutes, two orders share a timestamp half of the time
      created_at: new Date(BASE + Math.floor(i / 2) * 600_000).toISOString(),
      total_cents: items.reduce((t, it) => t + it.quantity * it.unit_price_cents, 0),
      items,
    };
  });
}
