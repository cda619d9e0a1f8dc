import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as v from 'valibot';
import { afterAll, describe, expect, it } from 'vitest';
import { OrderSchema, ProductSchema } from '../../src/domain/order-schema.js';
import { OrderWriter, ProductWriter } from '../../src/storage/order-writer.js';
import { exactProductScanSql } from '../../src/storage/sales-sql.js';
import { prepareShard, shardPath } from '../../src/storage/shards.js';
import { openDatabase } from '../../src/storage/sqlite.js';
import { makeOrders, product } from '../helpers/data.js';

const dir = mkdtempSync(join(tmpdir(), 'orderflow-sales-sql-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('exact by product: the two plans', () => {
  it('read by date and sorted, or walked in product order: the same rows in the same key order', () => {
    prepareShard(dir, 1);
    const db = openDatabase(shardPath(dir, 1));
    new ProductWriter(db).writeBatch(
      Array.from({ length: 8 }, (_, i) => v.parse(ProductSchema, product(i + 1))),
    );
    new OrderWriter(db).writeBatch(makeOrders(600, 'P').map((o) => v.parse(OrderSchema, o)));
    const statuses = ['paid', 'shipped', 'delivered'];
    const params = [Date.UTC(2026, 0, 2), Date.UTC(2026, 0, 3, 12), ...statuses];
    type Row = { k: number; order_pk: number; quantity: number };
    const sorted = db.prepare(exactProductScanSql(3, true)).all(...params) as Row[];
    const walked = db.prepare(exactProductScanSql(3, false)).all(...params) as Row[];
    expect(sorted.length).toBeGreaterThan(50);
    const canonical = (rows: Row[]) => rows.map((r) => `${r.k}:${r.order_pk}:${r.quantity}`).sort();
    expect(canonical(sorted)).toEqual(canonical(walked));
    // both deliver the rows grouped by product (the accumulator closes a group when the key changes)
    for (const rows of [sorted, walked])
      for (let i = 1; i < rows.length; i++) expect(rows[i]!.k).toBeGreaterThanOrEqual(rows[i - 1]!.k);
    // and their plans differ as intended: the date index and a sort, or the product index
    const plan = (sql: string) =>
      (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[])
        .map((p) => p.detail)
        .join(' | ');
    expect(plan(exactProductScanSql(3, true))).toMatch(/orders_created.*TEMP B-TREE/);
    expect(plan(exactProductScanSql(3, false))).toMatch(/order_items_product/);
    db.close();
  });
});
