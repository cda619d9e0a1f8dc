/**
 * The sales metrics suites' data and definitions (CONTRACT.md section 3), computed directly from the
 * orders: used by the metrics suite on both backends (metrics.test.ts).
 */
import { tableFromIPC } from 'apache-arrow';
import { expect } from 'vitest';
import type { Order } from './data.js';

export type Bucket = Record<string, number | string | null>;

export const STATUSES = ['paid', 'shipped', 'delivered', 'cancelled', 'refunded', 'pending'];
export const CATEGORY = (pid: number) => (pid % 3 === 0 ? 'shoes' : pid % 3 === 1 ? 'bags' : 'hats');
const START = Date.UTC(2026, 1, 1);

export function makeSalesOrders(count: number, prefix: string, seed: number, spanHours = 24 * 10): Order[] {
  let s = seed;
  const r = () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 2 ** 32;
  };
  return Array.from({ length: count }, (_, i) => {
    const n = 1 + Math.floor(r() * 3);
    const pids = new Set<number>();
    while (pids.size < n) pids.add(1 + Math.floor(r() * 12));
    const items = [...pids].map((product_id) => ({
      product_id,
      quantity: 1 + Math.floor(r() * 4),
      unit_price_cents: 100 + Math.floor(r() * 20_000),
    }));
    const c = Math.floor(r() * 400);
    return {
      order_id: `${prefix}-${i}`,
      customer_id: `C-${c}`,
      customer_name: `Customer ${c}`,
      customer_email: `c${c}@example.com`,
      status: STATUSES[Math.floor(r() * 6)]!,
      currency: 'USD',
      created_at: new Date(START + Math.floor(r() * spanHours * 3_600_000)).toISOString(),
      total_cents: items.reduce((t, it) => t + it.quantity * it.unit_price_cents, 0),
      items,
    };
  });
}

/** The definitions of CONTRACT.md section 3, computed directly from the orders. */
/** The test's own bucket keys, written out rather than derived, over its range (2026-02-01..11). */
const TIME_KEY: Record<string, (createdAt: string) => string> = {
  day: (t) => t.slice(0, 10),
  hour: (t) => `${t.slice(0, 13)}:00:00Z`,
  month: (t) => t.slice(0, 7),
  // 2026-02-01 is a Sunday (ISO week 5); Mondays 02-02 and 02-09 start weeks 6 and 7
  week: (t) => (t < '2026-02-02' ? '2026-W05' : t < '2026-02-09' ? '2026-W06' : '2026-W07'),
};

export function expectedBuckets(
  orders: Order[],
  groupBy: string,
  start: number,
  end: number,
  statuses = ['paid', 'shipped', 'delivered'],
  top = 100,
): Bucket[] {
  const groups = new Map<
    string | number,
    {
      orders: Set<string>;
      customers: Set<string>;
      units: number;
      revenue: number;
      values: number[];
      valueSum: number;
    }
  >();
  for (const o of orders) {
    const t = Date.parse(o.created_at);
    if (t < start || t >= end || !statuses.includes(o.status)) continue;
    const byTime = ['day', 'hour', 'week', 'month'].includes(groupBy);
    const lines = byTime ? [null] : o.items;
    for (const it of lines) {
      const key = byTime
        ? TIME_KEY[groupBy]!(o.created_at)
        : groupBy === 'product'
          ? it!.product_id
          : CATEGORY(it!.product_id);
      let g = groups.get(key);
      if (!g) {
        g = { orders: new Set(), customers: new Set(), units: 0, revenue: 0, values: [], valueSum: 0 };
        groups.set(key, g);
      }
      if (it) {
        g.units += it.quantity;
        g.revenue += it.quantity * it.unit_price_cents;
      } else {
        g.units += o.items.reduce((u, x) => u + x.quantity, 0);
        g.revenue += o.total_cents;
      }
      if (!g.orders.has(o.order_id)) {
        g.orders.add(o.order_id);
        g.values.push(o.total_cents);
        g.valueSum += o.total_cents;
      }
      g.customers.add(o.customer_id);
    }
  }
  const rank = (sorted: number[], p: number) =>
    sorted[Math.max(1, Math.ceil((p / 100) * sorted.length)) - 1]!;
  let out = [...groups.entries()].map(([key, g]) => {
    const sorted = [...g.values].sort((a, b) => a - b);
    return {
      key,
      orders: g.orders.size,
      units: g.units,
      revenue_cents: g.revenue,
      unique_customers: g.customers.size,
      avg_order_value_cents: Math.round(g.valueSum / g.orders.size),
      p50_order_value_cents: rank(sorted, 50),
      p95_order_value_cents: rank(sorted, 95),
      p99_order_value_cents: rank(sorted, 99),
    };
  });
  if (groupBy === 'product')
    out = out
      .sort((a, b) => b.revenue_cents - a.revenue_cents || Number(a.key) - Number(b.key))
      .slice(0, top);
  else out = out.sort((a, b) => String(a.key).localeCompare(String(b.key)));
  return out;
}

/** The range every order of makeSalesOrders falls in (ten days from 2026-02-01). */
export const SALES_RANGE = { start_date: '2026-02-01', end_date: '2026-02-11' };

/** Buckets by key (time buckets and categories come back in key order; a test compares sets of them). */
export const sortByKey = (rows: Bucket[]) =>
  [...rows].sort((a, b) => String(a.key).localeCompare(String(b.key)));

/** A metrics answer read as an Arrow IPC stream: its rows (bigints as numbers) and its meta. */
export async function arrowAnswer(res: Response) {
  const table = tableFromIPC(new Uint8Array(await res.arrayBuffer()));
  return {
    rows: table
      .toArray()
      .map((r) =>
        Object.fromEntries(
          Object.entries(r.toJSON() as Record<string, unknown>).map(([k, v]) => [
            k,
            typeof v === 'bigint' ? Number(v) : v,
          ]),
        ),
      ),
    meta: JSON.parse(table.schema.metadata.get('orderflow.meta')!) as Record<string, unknown>,
  };
}

/**
 * An approx answer against the exact one: the same buckets, sums exact, unique customers within three
 * relative standard errors of the HyperLogLog (0.81%), percentiles present.
 */
export function approxWithinBounds(gotBuckets: readonly object[], wantBuckets: readonly object[]) {
  const got = gotBuckets as Bucket[];
  const want = wantBuckets as Bucket[];
  expect(got.map((b) => b.key)).toEqual(want.map((b) => b.key));
  got.forEach((g, i) => {
    const w = want[i]!;
    for (const f of ['orders', 'units', 'revenue_cents', 'avg_order_value_cents'])
      expect(g[f], `${g.key} ${f}`).toBe(w[f]);
    const u = w.unique_customers as number;
    expect(Math.abs((g.unique_customers as number) - u), `${g.key} unique`).toBeLessThanOrEqual(
      Math.max(1, Math.ceil(u * 0.0081 * 3)),
    );
    for (const p of ['p50', 'p95', 'p99'])
      expect(g[`${p}_order_value_cents`], `${g.key} ${p}`).toEqual(expect.any(Number));
  });
}
