import type pg from 'pg';
import * as v from 'valibot';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OrderSchema, ProductSchema } from '../../src/domain/order-schema.js';
import { DAY, DEFAULT_SALE_STATUSES, type SalesRequest } from '../../src/domain/sales.js';
import { ORDER_STATUSES } from '../../src/domain/vocabulary.js';
import { allBuckets } from '../../src/sales/product-scan.js';
import { decodeLineBlock } from '../../src/storage/line-blocks.js';
import { PgCatalog } from '../../src/storage/postgres/catalog.js';
import { migratePostgres } from '../../src/storage/postgres/migrations.js';
import { PgOrderWriter } from '../../src/storage/postgres/order-writer.js';
import { pgProductsFromBlocks } from '../../src/storage/postgres/product-blocks.js';
import { refreshTenantRollups } from '../../src/storage/postgres/rollups.js';
import { pgSalesFromOrders } from '../../src/storage/postgres/sales.js';
import { product } from '../helpers/data.js';
import { postgresUnavailable, scratchSchema } from '../helpers/postgres.js';
import { CATEGORY, makeSalesOrders, SALES_RANGE } from '../helpers/sales.js';

/**
 * The line blocks on PostgreSQL (src/storage/postgres/line-blocks.ts) and the rankings read from them
 * (src/storage/postgres/product-blocks.ts), on connections of their own: every order's lines in exactly one
 * block of its day, whether built whole or appended by refreshes and compacted; rankings equal to the
 * answer aggregated from the orders for any range, statuses and top; refused while a day is pending.
 */
const unavailable = await postgresUnavailable();
if (unavailable) console.warn(`PostgreSQL line blocks not tested: ${unavailable}`);

/** An id past 2^31 - 1: a block holding it stores its ids as f64. */
const WIDE_PRODUCT = 5_000_000_000;

describe.skipIf(unavailable !== null)('line blocks on PostgreSQL', () => {
  let schema: Awaited<ReturnType<typeof scratchSchema>>;
  let pool: pg.Pool;
  let client: pg.PoolClient;

  beforeAll(async () => {
    schema = await scratchSchema();
    pool = schema.pool();
    client = await pool.connect();
    await migratePostgres(client);
  });

  afterAll(async () => {
    client?.release();
    await pool?.end();
    await schema?.drop();
  });

  /** A tenant with twelve products in their categories (and one of a wide id), and a writer of its orders. */
  async function salesTenant(name: string) {
    const t = (await new PgCatalog(pool).createTenant(name)).tenant_id;
    const writer = new PgOrderWriter(client, t);
    await writer.writeProducts(
      [...Array.from({ length: 12 }, (_, i) => i + 1), WIDE_PRODUCT].map((id, i) =>
        v.parse(ProductSchema, product(id, { category: CATEGORY(i + 1) })),
      ),
    );
    const writeOrders = (rows: unknown[]) =>
      writer.writeBatch(rows.map((r) => v.parse(OrderSchema, { ...(r as object), tenant_id: t })));
    return { t, writeOrders };
  }

  /** Every line the tenant's blocks hold, with its order's facts, and each day's number of blocks. */
  async function blockLines(t: number) {
    const { rows } = await client.query<{ day: number; block: Buffer }>(
      'SELECT day, block FROM rollup_line_blocks WHERE tenant_id = $1 ORDER BY day, seq',
      [t],
    );
    const lines: string[] = [];
    const blocksPerDay = new Map<number, number>();
    for (const { day, block } of rows) {
      blocksPerDay.set(day, (blocksPerDay.get(day) ?? 0) + 1);
      const b = decodeLineBlock(block);
      for (let o = 0, from = 0; o < b.orders; o++) {
        for (let i = from; i < b.lineEnd[o]!; i++)
          lines.push(
            [
              day,
              b.orderPk[o],
              b.customerPk[o],
              ORDER_STATUSES[b.status[o]!],
              b.total[o],
              b.productId[i],
              b.quantity[i],
              b.unitPrice[i],
            ].join('|'),
          );
        from = b.lineEnd[o]!;
      }
    }
    return { lines: lines.sort(), blocksPerDay };
  }

  /** Every line of the tenant's orders, as blockLines gives them. */
  async function tableLines(t: number): Promise<string[]> {
    const { rows } = await client.query<{ line: string }>(
      `SELECT concat_ws('|', floor(extract(epoch FROM o.created_at) / 86400), o.order_pk, o.customer_pk, o.status,
                        o.total_cents, i.product_id, i.quantity, i.unit_price_cents) AS line
         FROM orders o JOIN order_items i ON i.tenant_id = o.tenant_id AND i.order_pk = o.order_pk
        WHERE o.tenant_id = $1`,
      [t],
    );
    return rows.map((r) => r.line).sort();
  }

  /** Orders of makeSalesOrders, some with a line of the wide product. */
  const salesOrders = (count: number, prefix: string, seed: number, spanHours?: number) =>
    makeSalesOrders(count, prefix, seed, spanHours).map((o, i) => {
      if (i % 7 !== 0) return o;
      const wide = { product_id: WIDE_PRODUCT, quantity: 1, unit_price_cents: 999 };
      return { ...o, items: [...o.items, wide], total_cents: o.total_cents + 999 };
    });

  const ranking = (r: Partial<SalesRequest>): SalesRequest => ({
    groupBy: 'product',
    start: Date.parse(SALES_RANGE.start_date),
    end: Date.parse(SALES_RANGE.end_date),
    precision: 'exact',
    source: 'auto',
    statuses: DEFAULT_SALE_STATUSES,
    top: 100,
    ...r,
  });

  /** The ranking from the blocks equals the one aggregated from the orders, for ranges, statuses and tops. */
  async function expectRankingsFromBlocks(t: number) {
    const start = Date.parse(SALES_RANGE.start_date);
    const ranges = [
      { start, end: Date.parse(SALES_RANGE.end_date) }, // whole days
      { start: start + 2 * DAY + 5.5 * 3_600_000, end: start + 6 * DAY + 17 * 3_600_000 }, // part-days at both ends
      { start: start + 3 * DAY + 3_600_000, end: start + 3 * DAY + 9 * 3_600_000 }, // within one day
    ];
    for (const range of ranges)
      for (const statuses of [DEFAULT_SALE_STATUSES, ['paid', 'cancelled']])
        for (const top of [3, 1_000_000]) {
          const r = ranking({ ...range, statuses, top });
          const read = await pgProductsFromBlocks(client, t, r);
          if (!('ranking' in read)) throw new Error(read.notReady);
          const want = await pgSalesFromOrders(client, t, r);
          expect(want.data.length).toBeGreaterThan(0);
          expect(await allBuckets(read.ranking), `${JSON.stringify(range)} ${statuses} top ${top}`).toEqual(
            want.data,
          );
          // read again in slices of a few pairs (each a COPY of the blocks and a read of the part-days)
          const sliced = await pgProductsFromBlocks(client, t, r, 7);
          if (!('ranking' in sliced)) throw new Error(sliced.notReady);
          const pairs = want.data.reduce((n, b) => n + b.orders, 0);
          if (pairs > 7) expect(sliced.ranking.method).toMatch(/read again in \d+ slices/);
          expect(await allBuckets(sliced.ranking)).toEqual(want.data);
          // the whole days' blocks, and the part-days from the tables
          const hasWholeDays = Math.floor(range.end / DAY) > Math.ceil(range.start / DAY);
          const hasPartDays = range.start % DAY !== 0 || range.end % DAY !== 0;
          const sources = [
            ...(hasWholeDays ? ['rollup_line_blocks of \\d+ days'] : []),
            ...(hasPartDays ? ['orders and their lines \\(through the date index\\)'] : []),
          ].join(' \\+ ');
          expect(read.ranking.method).toMatch(
            new RegExp(`^exact: one pass over the range's order lines \\(${sources}\\)`),
          );
        }
    // a ranking holds its snapshot until its buckets are taken, and ends it when they are abandoned
    const inTransaction = async () =>
      (
        await client.query<{ open: boolean }>(
          'SELECT xact_start <> query_start AS open FROM pg_stat_activity WHERE pid = pg_backend_pid()',
        )
      ).rows[0]!.open;
    const read = await pgProductsFromBlocks(client, t, ranking({ top: 1_000_000 }), 1);
    if (!('ranking' in read)) throw new Error(read.notReady);
    const buckets = read.ranking.buckets();
    expect((await buckets.next()).done).toBe(false);
    expect(await inTransaction()).toBe(true);
    await buckets.return(undefined);
    expect(await inTransaction()).toBe(false);
  }

  it('a first build puts every line in one block per day, wide ids included; rankings read from them equal the orders', async () => {
    const { t, writeOrders } = await salesTenant('blocks-build');
    await writeOrders(salesOrders(900, 'A', 7));
    expect(await refreshTenantRollups(client, t)).toMatchObject({ mode: 'first build', orders: 900 });
    const { lines, blocksPerDay } = await blockLines(t);
    expect(lines).toEqual(await tableLines(t));
    expect(lines.some((l) => l.includes(`|${WIDE_PRODUCT}|`))).toBe(true);
    expect([...blocksPerDay.values()].every((n) => n === 1)).toBe(true);
    expect(blocksPerDay.size).toBe(10);
    await expectRankingsFromBlocks(t);
  });

  it('refreshes append a block per day they touch and compact a crowded day into one; refused while pending; a rebuild leaves no duplicate', async () => {
    const { t, writeOrders } = await salesTenant('blocks-deltas');
    await writeOrders(salesOrders(300, 'D', 8));
    await refreshTenantRollups(client, t);
    let most = 0;
    // twelve writes of late orders into the same two days, each folded in as deltas
    for (let i = 0; i < 12; i++) {
      await writeOrders(salesOrders(20, `D-LATE-${i}`, 100 + i, 48));
      const pending = await pgProductsFromBlocks(client, t, ranking({}));
      expect(pending).toEqual({
        notReady: '1 write transaction(s) in the range not folded into the pre-aggregates yet',
      });
      expect(await refreshTenantRollups(client, t)).toMatchObject({ mode: 'deltas', orders: 20 });
      const { lines, blocksPerDay } = await blockLines(t);
      expect(lines).toEqual(await tableLines(t));
      const crowded = Math.max(...blocksPerDay.values());
      expect(crowded).toBeLessThanOrEqual(8);
      most = Math.max(most, crowded);
    }
    expect(most).toBe(8); // the days filled up to the limit, then were compacted
    await expectRankingsFromBlocks(t);
    // a backlog rebuild deletes the blocks it replaces
    await writeOrders(salesOrders(300, 'D-MORE', 9));
    expect(await refreshTenantRollups(client, t, { backlogRebuildOrders: 100 })).toMatchObject({
      mode: 'backlog rebuild',
    });
    const { lines, blocksPerDay } = await blockLines(t);
    expect(lines).toEqual(await tableLines(t));
    expect([...blocksPerDay.values()].every((n) => n === 1)).toBe(true);
    await expectRankingsFromBlocks(t);
  });

  it("a refresh whose orders span more days than one statement's parameters can hold stores every day", async () => {
    const { t, writeOrders } = await salesTenant('blocks-many-days');
    await writeOrders(salesOrders(20, 'M', 11));
    await refreshTenantRollups(client, t);
    // ~14,700 distinct days in one refresh: five parameters a block would be ~73,000, past PostgreSQL's 65,535
    const decades = salesOrders(40_000, 'M-DECADES', 12, 24 * 16_000);
    for (let i = 0; i < decades.length; i += 10_000) await writeOrders(decades.slice(i, i + 10_000));
    expect(
      await refreshTenantRollups(client, t, { ordersPerRefresh: 100_000, backlogRebuildOrders: 1e9 }),
    ).toMatchObject({ mode: 'deltas', orders: 40_000 });
    const { lines, blocksPerDay } = await blockLines(t);
    expect(blocksPerDay.size).toBeGreaterThan(65_535 / 5);
    expect(lines).toEqual(await tableLines(t));
  }, 60_000);

  it('a tenant never built is refused, and an empty range answers nothing', async () => {
    const { t, writeOrders } = await salesTenant('blocks-empty');
    expect(await pgProductsFromBlocks(client, t, ranking({}))).toEqual({
      notReady: "the tenant's pre-aggregates are being built for the first time",
    });
    await writeOrders(salesOrders(50, 'E', 10));
    await refreshTenantRollups(client, t);
    const start = Date.parse('2030-01-01');
    const read = await pgProductsFromBlocks(client, t, ranking({ start, end: start + 3 * DAY }));
    if (!('ranking' in read)) throw new Error(read.notReady);
    expect(await allBuckets(read.ranking)).toEqual([]);
  });
});
