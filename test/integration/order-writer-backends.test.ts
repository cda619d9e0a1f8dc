import type pg from 'pg';
import * as v from 'valibot';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OrderSchema, ProductSchema } from '../../src/domain/order-schema.js';
import { toOrderRecord } from '../../src/storage/order-record.js';
import {
  type OrderBatchOutcome,
  type OrderRow,
  OrderWriter,
  type ProductBatchOutcome,
  type ProductRow,
  ProductWriter,
} from '../../src/storage/order-writer.js';
import { PgCatalog } from '../../src/storage/postgres/catalog.js';
import { migratePostgres } from '../../src/storage/postgres/migrations.js';
import { PgOrderWriter } from '../../src/storage/postgres/order-writer.js';
import { prepareShard, shardPath } from '../../src/storage/shards.js';
import { openDatabase } from '../../src/storage/sqlite.js';
import { order, product } from '../helpers/data.js';
import { postgresUnavailable, scratchSchema } from '../helpers/postgres.js';
import { removeDir, tempDataDir } from '../helpers/server.js';

/** One tenant's order and product writers on a backend, and a look behind them at what was stored. */
interface Opened {
  products(rows: ProductRow[]): Promise<ProductBatchOutcome>;
  orders(rows: OrderRow[]): Promise<OrderBatchOutcome>;
  customer(customerId: string): Promise<{ name: string; email: string } | undefined>;
  items(orderId: string): Promise<{ line_no: number; product_id: number; quantity: number }[]>;
  count(table: 'orders' | 'order_items' | 'customers'): Promise<number>;
  erase(customerId: string): Promise<void>;
  close(): Promise<void>;
}

const pgUnavailable = await postgresUnavailable();
if (pgUnavailable) console.warn(`order writer tests on PostgreSQL skipped: ${pgUnavailable}`);

const BACKENDS: { name: string; skip: string | null; open(): Promise<Opened> }[] = [
  {
    name: 'sqlite',
    skip: null,
    async open() {
      const dir = tempDataDir();
      prepareShard(dir, 1);
      const db = openDatabase(shardPath(dir, 1));
      const orders = new OrderWriter(db);
      const products = new ProductWriter(db);
      return {
        products: async (rows) => products.writeBatch(rows),
        orders: async (rows) => orders.writeBatch(rows),
        customer: async (id) =>
          db.prepare('SELECT name, email FROM customers WHERE customer_id = ?').get(id) as never,
        items: async (id) =>
          db
            .prepare(
              `SELECT i.line_no, i.product_id, i.quantity FROM order_items i JOIN orders o USING (order_pk)
               WHERE o.order_id = ? ORDER BY i.line_no`,
            )
            .all(id) as never,
        count: async (table) => (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n,
        erase: async (id) => {
          db.prepare("UPDATE customers SET erased_at = 1, name = '', email = '' WHERE customer_id = ?").run(
            id,
          );
        },
        async close() {
          db.close();
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
      const pool: pg.Pool = schema.pool();
      const setup = await pool.connect();
      await migratePostgres(setup);
      setup.release();
      const { tenant_id: tenant } = await new PgCatalog(pool).createTenant('writer');
      const client = await pool.connect();
      const writer = new PgOrderWriter(client, tenant);
      const one = async <T>(sql: string, params: unknown[]) => (await pool.query(sql, params)).rows[0] as T;
      return {
        products: (rows) => writer.writeProducts(rows),
        orders: (rows) => writer.writeBatch(rows),
        customer: (id) =>
          one('SELECT name, email FROM customers WHERE tenant_id = $1 AND customer_id = $2', [tenant, id]),
        items: async (id) =>
          (
            await pool.query(
              `SELECT i.line_no, i.product_id::float8 AS product_id, i.quantity FROM order_items i
                 JOIN orders o ON o.tenant_id = i.tenant_id AND o.order_pk = i.order_pk
                WHERE o.tenant_id = $1 AND o.order_id = $2 ORDER BY i.line_no`,
              [tenant, id],
            )
          ).rows,
        count: async (table) =>
          Number(
            (await one<{ n: string }>(`SELECT count(*) AS n FROM ${table} WHERE tenant_id = $1`, [tenant])).n,
          ),
        erase: async (id) => {
          await pool.query(
            "UPDATE customers SET erased_at = now(), name = '', email = '' WHERE tenant_id = $1 AND customer_id = $2",
            [tenant, id],
          );
        },
        async close() {
          client.release();
          await pool.end();
          await schema.drop();
        },
      };
    },
  },
];

const asOrder = (n: number, extra: Record<string, unknown> = {}) =>
  v.parse(OrderSchema, order(n, extra)) as OrderRow;
const asProduct = (id: number) => v.parse(ProductSchema, product(id)) as ProductRow;

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip !== null)(`the order writer on ${backend.name}`, () => {
    let w: Opened;
    beforeAll(async () => {
      w = await backend.open();
    });
    afterAll(async () => w?.close());

    it('products: new ids inserted, existing ones and repeats in the batch are duplicates', async () => {
      expect(await w.products([asProduct(1), asProduct(2), asProduct(3)])).toEqual({
        inserted: 3,
        duplicates: [],
      });
      expect(await w.products([asProduct(3), asProduct(4), asProduct(4)])).toEqual({
        inserted: 1,
        duplicates: [0, 2],
      });
    });

    it('orders: duplicates within and across batches, unknown products refused with the first one, items kept in line order', async () => {
      const first = await w.orders([
        asOrder(1, {
          items: [
            { product_id: 2, quantity: 3, unit_price_cents: 100 },
            { product_id: 1, quantity: 1, unit_price_cents: 50 },
          ],
        }),
        asOrder(2),
        asOrder(1), // the same order_id again in the batch
        asOrder(3, {
          items: [
            { product_id: 1, quantity: 1, unit_price_cents: 1 },
            { product_id: 99, quantity: 1, unit_price_cents: 1 },
            { product_id: 98, quantity: 1, unit_price_cents: 1 },
          ],
        }),
      ]);
      expect(first).toEqual({ inserted: 2, duplicates: [2], unknownProduct: [{ index: 3, productId: 99 }] });
      expect(await w.items('A-1')).toEqual([
        { line_no: 1, product_id: 2, quantity: 3 },
        { line_no: 2, product_id: 1, quantity: 1 },
      ]);
      const again = await w.orders([asOrder(2), asOrder(4)]);
      expect(again).toEqual({ inserted: 1, duplicates: [0], unknownProduct: [] });
      expect(await w.count('orders')).toBe(3);
      expect(await w.items('A-3')).toEqual([]);
    });

    it('a batch of more lines than the writer kept room for, then a small one: every line as sent, none left over', async () => {
      const before = await w.count('order_items');
      const lines = (n: number) =>
        [1, 2, 3].map((p) => ({ product_id: p, quantity: 1 + ((n + p) % 5), unit_price_cents: 10 * n + p }));
      // 3,500 orders of 3 lines: 10,500 lines, past the 8,192 the SQLite writer starts with
      const big = Array.from({ length: 3_500 }, (_, i) => asOrder(100_000 + i, { items: lines(i) }));
      expect((await w.orders(big)).inserted).toBe(3_500);
      const small = await w.orders([asOrder(200_000, { items: lines(7).slice(0, 2) })]);
      expect(small.inserted).toBe(1);
      expect(await w.count('order_items')).toBe(before + 10_502);
      expect(await w.items('A-103499')).toEqual(
        lines(3_499).map((l, i) => ({ line_no: i + 1, product_id: l.product_id, quantity: l.quantity })),
      );
      expect(await w.items('A-200000')).toEqual(
        lines(7)
          .slice(0, 2)
          .map((l, i) => ({ line_no: i + 1, product_id: l.product_id, quantity: l.quantity })),
      );
    });

    it('customers: one row per customer_id, the latest line of a batch wins, an erased customer is not written back', async () => {
      const before = await w.count('customers');
      await w.orders([
        asOrder(10, {
          customer_id: 'C-late',
          customer_name: 'First Name',
          customer_email: 'first@x.example',
        }),
        asOrder(11, {
          customer_id: 'C-late',
          customer_name: 'Second Name',
          customer_email: 'second@x.example',
        }),
      ]);
      expect(await w.count('customers')).toBe(before + 1);
      expect(await w.customer('C-late')).toEqual({ name: 'Second Name', email: 'second@x.example' });
      await w.orders([
        asOrder(12, { customer_id: 'C-late', customer_name: 'Third', customer_email: 'third@x.example' }),
      ]);
      expect(await w.customer('C-late')).toEqual({ name: 'Third', email: 'third@x.example' });
      await w.erase('C-late');
      await w.orders([
        asOrder(13, { customer_id: 'C-late', customer_name: 'Back Again', customer_email: 'b@x.example' }),
      ]);
      expect(await w.customer('C-late')).toEqual({ name: '', email: '' });
    });

    it('text with tabs, newlines and backslashes goes in as it was sent', async () => {
      const name = 'Tab\there\nnew line \\ back\\slash \\N';
      await w.orders([asOrder(20, { customer_id: 'C-odd', customer_name: name })]);
      expect((await w.customer('C-odd'))?.name).toBe(name);
    });
  });
}

/**
 * A fresh schema with one tenant holding products 1-3, and two connections to write it from (a writer each),
 * all released and dropped after `work`.
 */
async function withTwoConnections(
  name: string,
  work: (tenant: number, a: pg.PoolClient, b: pg.PoolClient, pool: pg.Pool) => Promise<void>,
): Promise<void> {
  const schema = await scratchSchema();
  const pool = schema.pool();
  try {
    const setup = await pool.connect();
    await migratePostgres(setup);
    setup.release();
    const { tenant_id: tenant } = await new PgCatalog(pool).createTenant(name);
    const [a, b] = [await pool.connect(), await pool.connect()];
    try {
      await new PgOrderWriter(a, tenant).writeProducts([1, 2, 3].map(asProduct));
      await work(tenant, a, b, pool);
    } finally {
      a.release();
      b.release();
    }
  } finally {
    await pool.end();
    await schema.drop();
  }
}

describe.skipIf(pgUnavailable !== null)('several order writers of one tenant on postgres', () => {
  it('a customer keeps its latest line whichever transaction commits first, and concurrent writers do not deadlock', () =>
    withTwoConnections('writers', async (tenant, a, b, pool) => {
      const records = (from: number, name: string) =>
        Array.from({ length: 50 }, (_, i) =>
          toOrderRecord(asOrder(from + i, { customer_id: `C-${i}`, customer_name: `${name} ${i}` })),
        );
      // the later lines (sequence 200) commit first; the earlier ones (100) after them must not win
      await a.query('BEGIN');
      await new PgOrderWriter(a, tenant).write(records(1000, 'Late'), Date.now(), () => 200);
      await a.query('COMMIT');
      await b.query('BEGIN');
      await new PgOrderWriter(b, tenant).write(records(2000, 'Early'), Date.now(), () => 100);
      await b.query('COMMIT');
      const names = await pool.query<{ name: string }>(
        "SELECT name FROM customers WHERE tenant_id = $1 AND customer_id LIKE 'C-%' ORDER BY name",
        [tenant],
      );
      expect(names.rows).toHaveLength(50);
      expect(names.rows.every((r) => r.name.startsWith('Late '))).toBe(true);
      // two open transactions touching the same customers, their lines in opposite orders: the second
      // waits for the first (customers are locked in id order), then both commit
      await a.query('BEGIN');
      await b.query('BEGIN');
      await new PgOrderWriter(a, tenant).write(records(3000, 'A'), Date.now(), () => 300);
      const second = new PgOrderWriter(b, tenant).write(records(4000, 'B').reverse(), Date.now(), () => 400);
      await new Promise((r) => setTimeout(r, 100));
      await a.query('COMMIT');
      expect((await second).inserted).toBe(50);
      await b.query('COMMIT');
      const after = await pool.query<{ name: string }>(
        "SELECT DISTINCT split_part(name, ' ', 1) AS name FROM customers WHERE tenant_id = $1 AND customer_id LIKE 'C-%'",
        [tenant],
      );
      expect(after.rows).toEqual([{ name: 'B' }]);
    }));

  it('an order another writer is committing: the direct COPY waits, then the batch goes in without it, its items and pending note only for the orders it wrote', () =>
    withTwoConnections('overlap', async (tenant, a, b, pool) => {
      // customers of their own, so B waits on A's orders, not on its customers
      const records = (from: number, to: number, writer: string) =>
        Array.from({ length: to - from }, (_, i) =>
          toOrderRecord(asOrder(from + i, { customer_id: `C-${writer}-${i % 5}` })),
        );
      // A holds orders 0..59 uncommitted; B's batch 40..99 overlaps it by 20
      await a.query('BEGIN');
      const first = await new PgOrderWriter(a, tenant).write(records(0, 60, 'a'));
      await b.query('BEGIN');
      let settled = false;
      const second = new PgOrderWriter(b, tenant).write(records(40, 100, 'b')).finally(() => {
        settled = true;
      });
      await new Promise((r) => setTimeout(r, 150));
      expect(settled).toBe(false); // waiting for A's order_ids
      await new Promise((r) => setTimeout(r, 150));
      await a.query('COMMIT');
      const out = await second;
      await b.query('COMMIT');
      expect(first.inserted).toBe(60);
      expect(out.inserted).toBe(40);
      expect(out.duplicates).toEqual(Array.from({ length: 20 }, (_, i) => i));
      const counted = await pool.query<{
        orders: number;
        items: number;
        noted: number;
        distinct_noted: number;
      }>(
        `SELECT (SELECT count(*)::int FROM orders WHERE tenant_id = $1) AS orders,
              (SELECT count(*)::int FROM order_items WHERE tenant_id = $1) AS items,
              (SELECT count(*)::int FROM rollup_pending p, unnest(p.order_pks) WHERE p.tenant_id = $1) AS noted,
              (SELECT count(DISTINCT pk)::int FROM rollup_pending p, unnest(p.order_pks) pk
                JOIN orders o ON o.tenant_id = $1 AND o.order_pk = pk WHERE p.tenant_id = $1) AS distinct_noted`,
        [tenant],
      );
      const perOrder = asOrder(0).items.length;
      expect(counted.rows[0]).toEqual({
        orders: 100,
        items: 100 * perOrder,
        noted: 100,
        distinct_noted: 100,
      });
    }));
});
