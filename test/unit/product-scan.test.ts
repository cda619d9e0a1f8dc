import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as v from 'valibot';
import { afterAll, describe, expect, it } from 'vitest';
import { OrderSchema, ProductSchema } from '../../src/domain/order-schema.js';
import type { SalesRequest } from '../../src/domain/sales.js';
import { exactFromOrders } from '../../src/sales/exact-scan.js';
import { mergeProductParts, productsByScan, scanProductPart } from '../../src/sales/product-scan.js';
import { OrderWriter, ProductWriter } from '../../src/storage/order-writer.js';
import { prepareShard, shardPath } from '../../src/storage/shards.js';
import { openDatabase } from '../../src/storage/sqlite.js';
import { makeOrders, product } from '../helpers/data.js';

const dir = mkdtempSync(join(tmpdir(), 'orderflow-product-scan-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

prepareShard(dir, 1);
const db = openDatabase(shardPath(dir, 1));
new ProductWriter(db).writeBatch(Array.from({ length: 8 }, (_, i) => v.parse(ProductSchema, product(i + 1))));
const orders = makeOrders(900, 'S');
// an order holding one product on two lines: its units and revenue add up, the order counts once
orders.push({
  ...orders[0]!,
  order_id: 'S-twice',
  status: 'paid',
  created_at: '2026-01-25T12:00:00.000Z', // alone in its hour
  items: [
    { product_id: 2, quantity: 1, unit_price_cents: 500 },
    { product_id: 2, quantity: 3, unit_price_cents: 700 },
  ],
  total_cents: 2600,
});
new OrderWriter(db).writeBatch(orders.map((o) => v.parse(OrderSchema, o)));

const request = (start: string, end: string, top = 100): SalesRequest => ({
  groupBy: 'product',
  start: Date.parse(start),
  end: Date.parse(end),
  precision: 'exact',
  source: 'orders',
  statuses: ['paid', 'shipped', 'delivered'],
  top,
});

describe('every product in one pass over the lines', () => {
  it('answers what the per-product scan answers, read in one part or split by order id', () => {
    for (const r of [
      request('2026-01-01', '2026-02-01'), // every order: storage order
      request('2026-01-02T03:00:00Z', '2026-01-02T09:30:00Z'), // a few hours: the date index
    ]) {
      const reference = exactFromOrders(db, r).data;
      expect(reference.length).toBeGreaterThan(3);
      expect(productsByScan(db, r).data).toEqual(reference);
      for (const count of [2, 3, 7]) {
        const parts = Array.from({ length: count }, (_, i) => scanProductPart(db, r, i, count));
        expect(parts.reduce((n, p) => n + p.rows, 0)).toBe(scanProductPart(db, r).rows);
        const merged = mergeProductParts(parts, r.top);
        expect(merged.data).toEqual(reference);
        expect(merged.method).toContain(`in ${count} parts`);
      }
    }
  });

  it('walks the tables in storage order for most of the orders and through the date index for a few', () => {
    expect(scanProductPart(db, request('2026-01-01', '2026-02-01')).walk).toBe('storage-order');
    expect(scanProductPart(db, request('2026-01-02', '2026-01-02T06:00:00Z')).walk).toBe('date-index');
  });

  it('counts an order once per product however many lines it has', () => {
    for (const count of [1, 2]) {
      const r = request('2026-01-25T12:00:00Z', '2026-01-25T13:00:00Z');
      const parts = Array.from({ length: count }, (_, i) => scanProductPart(db, r, i, count));
      expect(mergeProductParts(parts, r.top).data).toEqual([
        {
          key: 2,
          orders: 1,
          units: 4,
          revenue_cents: 2600,
          unique_customers: 1,
          avg_order_value_cents: 2600,
          p50_order_value_cents: 2600,
          p95_order_value_cents: 2600,
          p99_order_value_cents: 2600,
        },
      ]);
    }
  });

  it('ranks by revenue, ties to the lower id, and keeps the first `top`', () => {
    const r = request('2026-01-01', '2026-02-01', 3);
    const got = productsByScan(db, r).data;
    expect(got).toHaveLength(3);
    expect(got).toEqual(exactFromOrders(db, request('2026-01-01', '2026-02-01', 100)).data.slice(0, 3));
  });
});
