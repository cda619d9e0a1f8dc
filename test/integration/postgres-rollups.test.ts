import type pg from 'pg';
import * as v from 'valibot';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OrderSchema, ProductSchema } from '../../src/domain/order-schema.js';
import { DAY, DEFAULT_SALE_STATUSES, DEFAULT_SALES_KEY, type SalesRequest } from '../../src/domain/sales.js';
import { PgCatalog } from '../../src/storage/postgres/catalog.js';
import { migratePostgres } from '../../src/storage/postgres/migrations.js';
import { PgOrderWriter } from '../../src/storage/postgres/order-writer.js';
import { refreshRun } from '../../src/storage/postgres/rollup-refresh-run.js';
import {
  pgFromRollups,
  type RollupGroup,
  readsRollups,
  refreshTenantRollups,
  tenantsWithRollupWork,
} from '../../src/storage/postgres/rollups.js';
import { pgSalesFromOrders } from '../../src/storage/postgres/sales.js';
import { lockTenant } from '../../src/storage/postgres/tenant-locks.js';
import { product } from '../helpers/data.js';
import { postgresUnavailable, scratchSchema } from '../helpers/postgres.js';
import { approxWithinBounds, CATEGORY, makeSalesOrders, SALES_RANGE } from '../helpers/sales.js';

/**
 * The sales pre-aggregates on PostgreSQL (src/storage/postgres/rollups.ts), on connections of their own:
 * writes name their days, a refresh folds them in, a read over pending days is refused (the caller then
 * reads the orders), and a tenant whose orders predate the pre-aggregates gets them built whole.
 */
const unavailable = await postgresUnavailable();
if (unavailable) console.warn(`PostgreSQL pre-aggregates not tested: ${unavailable}`);

describe.skipIf(unavailable !== null)('sales pre-aggregates on PostgreSQL', () => {
  let schema: Awaited<ReturnType<typeof scratchSchema>>;
  let pool: pg.Pool;
  let client: pg.PoolClient;
  let tenant: number;
  const orders = makeSalesOrders(1500, 'R', 11);
  const request = (groupBy: RollupGroup): SalesRequest & { groupBy: RollupGroup } => ({
    groupBy,
    start: Date.parse(SALES_RANGE.start_date),
    end: Date.parse(SALES_RANGE.end_date),
    precision: 'approx',
    source: 'auto',
    statuses: ['paid', 'shipped', 'delivered'],
    top: 100,
  });
  const write = (rows: unknown[]) =>
    new PgOrderWriter(client, tenant).writeBatch(
      rows.map((r) => v.parse(OrderSchema, { ...(r as object), tenant_id: tenant })),
    );

  beforeAll(async () => {
    schema = await scratchSchema();
    pool = schema.pool();
    client = await pool.connect();
    await migratePostgres(client);
    tenant = (await new PgCatalog(pool).createTenant('rollups')).tenant_id;
    await new PgOrderWriter(client, tenant).writeProducts(
      Array.from({ length: 12 }, (_, i) =>
        v.parse(ProductSchema, product(i + 1, { category: CATEGORY(i + 1) })),
      ),
    );
  });
  /** A tenant of its own with the twelve products in their categories, and a writer of its orders. */
  async function salesTenant(name: string) {
    const t = (await new PgCatalog(pool).createTenant(name)).tenant_id;
    const writer = new PgOrderWriter(client, t);
    await writer.writeProducts(
      Array.from({ length: 12 }, (_, i) =>
        v.parse(ProductSchema, product(i + 1, { category: CATEGORY(i + 1) })),
      ),
    );
    const writeOrders = (rows: unknown[]) =>
      writer.writeBatch(rows.map((r) => v.parse(OrderSchema, { ...(r as object), tenant_id: t })));
    return { t, writeOrders };
  }

  /**
   * Tenant t's answer from the pre-aggregates in both precisions, read as `method` says: approx within the
   * bounds of the answer aggregated from the orders, exact equal to it; for the default sale statuses (by
   * time their pre-merged rows) and for two others (their rows per status).
   */
  async function expectFromRollups(t: number, r: SalesRequest & { groupBy: RollupGroup }, method: RegExp) {
    for (const statuses of [DEFAULT_SALE_STATUSES, ['paid', 'cancelled']]) {
      const fromOrders = await pgSalesFromOrders(client, t, { ...r, statuses, precision: 'exact' });
      expect(fromOrders.data.length).toBeGreaterThan(0);
      for (const precision of ['approx', 'exact'] as const) {
        const read = await pgFromRollups(client, t, { ...r, statuses, precision });
        if (!('answer' in read)) throw new Error(read.notReady);
        expect(read.answer.method).toMatch(method);
        expect(read.answer.method.startsWith(`${precision}: `)).toBe(true);
        // the time levels keep the default statuses pre-merged; the category levels do not
        expect(read.answer.method.endsWith('; default statuses pre-merged)')).toBe(
          statuses === DEFAULT_SALE_STATUSES && r.groupBy !== 'category',
        );
        if (precision === 'exact') expect(read.answer.data).toEqual(fromOrders.data);
        else approxWithinBounds(read.answer.data, fromOrders.data);
      }
    }
  }

  afterAll(async () => {
    client?.release();
    await pool?.end();
    await schema?.drop();
  });

  it('a tenant with orders and no pre-aggregates (written before them) gets every day built, then answers within bounds', async () => {
    await write(orders);
    // as if the orders predated migration 012: no pending rows, never built
    await client.query('DELETE FROM rollup_pending WHERE tenant_id = $1', [tenant]);
    expect(await tenantsWithRollupWork(client, 0, 0)).toContainEqual({ tenantId: tenant, lagging: false });
    expect(await pgFromRollups(client, tenant, request('day'))).toMatchObject({
      notReady: expect.stringMatching(/built for the first time/),
    });
    // a few facts per fetch: the build's week windows straddle its fetches
    const built = await refreshTenantRollups(client, tenant, { factsPerFetch: 97 });
    expect(built).toMatchObject({ mode: 'first build', orders: orders.length });
    expect(built!.rows).toBeGreaterThanOrEqual(10 * 3); // ten days, sale statuses and the others
    const categoryRows = await client.query<{ n: number }>(
      'SELECT count(DISTINCT category)::int AS n FROM rollup_daily_category WHERE tenant_id = $1',
      [tenant],
    );
    expect(categoryRows.rows[0]!.n).toBeGreaterThan(1);
    expect((await tenantsWithRollupWork(client, 0, 0)).map((w) => w.tenantId)).not.toContain(tenant);
    for (const groupBy of ['hour', 'day', 'week', 'month', 'category'] as const)
      await expectFromRollups(tenant, request(groupBy), / on PostgreSQL /);
  });

  it('a write names its days; a read over them is refused until a refresh folds them in; one elsewhere is not', async () => {
    const late = makeSalesOrders(40, 'R-LATE', 12).map((o) => ({
      ...o,
      created_at: new Date(Date.parse('2026-02-03T10:00:00Z') + Math.random() * 3_600_000).toISOString(),
    }));
    await write(late);
    const pending = await client.query<{ days: number[] }>(
      'SELECT days FROM rollup_pending WHERE tenant_id = $1',
      [tenant],
    );
    expect(pending.rows.map((r) => r.days)).toEqual([[Date.parse('2026-02-03') / DAY]]);
    expect(await pgFromRollups(client, tenant, request('day'))).toMatchObject({
      notReady: expect.stringMatching(/1 write transaction\(s\) in the range not folded/),
    });
    // a range without that day is answered from the pre-aggregates meanwhile
    const before = await pgFromRollups(client, tenant, {
      ...request('day'),
      start: Date.parse('2026-02-05'),
    });
    expect('answer' in before).toBe(true);
    // only the write's 40 orders are read, and added to that day's rows
    expect(await refreshTenantRollups(client, tenant)).toMatchObject({
      mode: 'deltas',
      writes: 1,
      orders: 40,
    });
    for (const groupBy of ['day', 'category'] as const) {
      const read = await pgFromRollups(client, tenant, request(groupBy));
      if (!('answer' in read)) throw new Error(read.notReady);
      expect(read.answer.method).toMatch(groupBy === 'day' ? /rollup_daily / : /rollup_daily_category /);
      const exact = await pgSalesFromOrders(client, tenant, { ...request(groupBy), precision: 'exact' });
      approxWithinBounds(read.answer.data, exact.data);
    }
  });

  it('a write that commits while a refresh runs stays pending for the next one; two refreshers do not run at once', async () => {
    const other = await pool.connect();
    try {
      // the refresh holds its transaction open (its advisory lock taken, its pending rows deleted) ...
      await write(makeSalesOrders(20, 'R-A', 13));
      await client.query('BEGIN');
      await lockTenant(client, 'rollup_refresh', tenant);
      // ... another refresher skips the tenant
      expect(await refreshTenantRollups(other, tenant)).toBeNull();
      await client.query('ROLLBACK');
      // a write during a refresh: the refresh's own pending rows go, the new one stays
      const refreshing = refreshTenantRollups(client, tenant);
      await new PgOrderWriter(other, tenant).writeBatch(
        makeSalesOrders(20, 'R-B', 14).map((o) => v.parse(OrderSchema, { ...o, tenant_id: tenant })),
      );
      await refreshing;
      const read = await pgFromRollups(client, tenant, request('day'));
      if ('answer' in read) {
        // the write committed before the refresh took the pending rows: it was folded in
        const exact = await pgSalesFromOrders(client, tenant, { ...request('day'), precision: 'exact' });
        approxWithinBounds(read.answer.data, exact.data);
      } else expect(read.notReady).toMatch(/not folded/);
      await refreshTenantRollups(client, tenant);
      const after = await pgFromRollups(client, tenant, request('day'));
      if (!('answer' in after)) throw new Error(after.notReady);
      const exact = await pgSalesFromOrders(client, tenant, { ...request('day'), precision: 'exact' });
      approxWithinBounds(after.answer.data, exact.data);
    } finally {
      other.release();
    }
  });

  it('by category, the whole months of a range are read from the month rows and the days around them from the day rows, both built and kept the same way', async () => {
    const { t, writeOrders } = await salesTenant('rollups-months');
    // from February 1st over about ten weeks: January empty, February and March whole, April in part
    await writeOrders(makeSalesOrders(1200, 'M', 21, 24 * 70));
    await client.query('DELETE FROM rollup_pending WHERE tenant_id = $1', [t]);
    // a few facts per fetch: the build's months straddle its fetches
    await refreshTenantRollups(client, t, { factsPerFetch: 89 });
    const months = await client.query<{ month: string }>(
      'SELECT DISTINCT month FROM rollup_monthly_category WHERE tenant_id = $1 ORDER BY 1',
      [t],
    );
    // epoch months of February, March and April 2026
    expect(months.rows.map((r) => Number(r.month))).toEqual([673, 674, 675]);
    const byCategory = (start: string, end: string): SalesRequest & { groupBy: RollupGroup } => ({
      ...request('category'),
      start: Date.parse(start),
      end: Date.parse(end),
    });
    const aroundMonths =
      /^(approx|exact): rollup_daily_category \+ rollup_monthly_category on PostgreSQL \(\d+ rollup_daily_category rows \+ \d+ rollup_monthly_category rows/;
    await expectFromRollups(t, byCategory('2026-01-20', '2026-04-05'), aroundMonths);
    await expectFromRollups(
      t,
      byCategory('2026-02-01', '2026-04-01'),
      /^(approx|exact): rollup_monthly_category on PostgreSQL/,
    );
    await expectFromRollups(
      t,
      byCategory('2026-02-03', '2026-02-20'),
      /^(approx|exact): rollup_daily_category on PostgreSQL/,
    );
    // a backfill over every month in three writes, folded in as deltas: the month rows take it as the day
    // rows do. A refresh takes pending rows up to its order budget (at least one): two writes of 100 here,
    // their lines joined as sets (over the looked-up maximum), then the last, looked up order by order
    const late = makeSalesOrders(300, 'M-LATE', 22, 24 * 70);
    for (let i = 0; i < late.length; i += 100) await writeOrders(late.slice(i, i + 100));
    expect(
      await refreshTenantRollups(client, t, { ordersPerRefresh: 150, lookedUpOrdersMax: 50 }),
    ).toMatchObject({
      mode: 'deltas',
      writes: 2,
      orders: 200,
    });
    expect(await refreshTenantRollups(client, t, { ordersPerRefresh: 150 })).toMatchObject({
      writes: 1,
      orders: 100,
    });
    await expectFromRollups(t, byCategory('2026-01-20', '2026-04-05'), aroundMonths);
    await expectFromRollups(
      t,
      byCategory('2026-02-01', '2026-04-01'),
      /^(approx|exact): rollup_monthly_category on PostgreSQL/,
    );
  });

  it('by time over whole hours: the hour rows, or the whole days by day and the hours around them by hour, kept by the same deltas and refused while a day of the range is pending', async () => {
    const { t, writeOrders } = await salesTenant('rollups-hours');
    const orders = makeSalesOrders(900, 'H', 31);
    await writeOrders(orders);
    await client.query('DELETE FROM rollup_pending WHERE tenant_id = $1', [t]);
    // a few facts per fetch: the build's weeks of hours straddle its fetches
    await refreshTenantRollups(client, t, { factsPerFetch: 83 });
    const hourRows = await client.query<{ hours: number; orders: number; sales: number }>(
      `SELECT count(DISTINCT hour)::int AS hours, (sum(orders) FILTER (WHERE status <> $2))::int AS orders,
              (sum(orders) FILTER (WHERE status = $2))::int AS sales
         FROM rollup_hourly WHERE tenant_id = $1`,
      [t, DEFAULT_SALES_KEY],
    );
    // every order in its status's hour row, and every sale in its hour's pre-merged row too; ten days of
    // hours, most of them with orders
    expect(hourRows.rows[0]).toMatchObject({
      orders: 900,
      sales: orders.filter((o) => DEFAULT_SALE_STATUSES.includes(o.status)).length,
    });
    expect(hourRows.rows[0]!.sales).toBeGreaterThan(0);
    expect(hourRows.rows[0]!.hours).toBeGreaterThan(100);
    const timed = (groupBy: RollupGroup, start: string, end: string) => ({
      ...request(groupBy),
      start: Date.parse(start),
      end: Date.parse(end),
    });
    const byHours =
      /^(approx|exact): rollup_hourly on PostgreSQL \(\d+ rollup_hourly rows merged by (hour|day)/;
    const hoursAndDays =
      /^(approx|exact): rollup_hourly \+ rollup_daily on PostgreSQL \(\d+ rollup_hourly rows \+ \d+ rollup_daily rows merged by (day|week)/;
    await expectFromRollups(t, timed('hour', '2026-02-01', '2026-02-11'), byHours);
    await expectFromRollups(t, timed('hour', '2026-02-03T05:00:00Z', '2026-02-03T17:00:00Z'), byHours);
    await expectFromRollups(t, timed('day', '2026-02-03T05:00:00Z', '2026-02-03T17:00:00Z'), byHours);
    await expectFromRollups(t, timed('day', '2026-02-02T05:00:00Z', '2026-02-06T21:00:00Z'), hoursAndDays);
    await expectFromRollups(t, timed('week', '2026-02-01T07:00:00Z', '2026-02-10T01:00:00Z'), hoursAndDays);
    // not whole hours: not for the pre-aggregates
    expect(readsRollups(timed('hour', '2026-02-03T05:30:00Z', '2026-02-03T17:00:00Z'))).toBe(false);
    expect(readsRollups(timed('category', '2026-02-03T05:00:00Z', '2026-02-04T00:00:00Z'))).toBe(false);
    // late orders into hours already built: refused while pending (by the day they fall on), then folded in
    const late = makeSalesOrders(60, 'H-LATE', 32).map((o) => ({
      ...o,
      created_at: new Date(Date.parse('2026-02-04T10:00:00Z') + Math.random() * 7_200_000).toISOString(),
    }));
    await writeOrders(late);
    expect(
      await pgFromRollups(client, t, timed('hour', '2026-02-04T09:00:00Z', '2026-02-04T13:00:00Z')),
    ).toMatchObject({ notReady: expect.stringMatching(/not folded/) });
    expect(await refreshTenantRollups(client, t)).toMatchObject({ writes: 1, orders: 60 });
    await expectFromRollups(t, timed('hour', '2026-02-04T09:00:00Z', '2026-02-04T13:00:00Z'), byHours);
    await expectFromRollups(t, timed('day', '2026-02-02T05:00:00Z', '2026-02-06T21:00:00Z'), hoursAndDays);
  });

  it('a refresh begun because writes stopped gives way when they start again; one begun for lag does not', async () => {
    const { t, writeOrders } = await salesTenant('yields');
    await refreshTenantRollups(client, t); // built (empty): what follows are deltas
    const late = makeSalesOrders(120, 'Y', 5);
    for (let i = 0; i < late.length; i += 20) await writeOrders(late.slice(i, i + 20)); // six writes
    const pending = async () =>
      (
        await client.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM rollup_pending WHERE tenant_id = $1',
          [t],
        )
      ).rows[0]!.n;
    expect(await pending()).toBe(6);
    // picked by the quiet rule, and by the lag rule while writes are recent
    expect(await tenantsWithRollupWork(client, 0, 60_000)).toContainEqual({ tenantId: t, lagging: false });
    expect(await tenantsWithRollupWork(client, 3_600_000, 0)).toContainEqual({ tenantId: t, lagging: true });
    // a write that comes once the run has begun (its transaction begins later than the run)
    const comesLater = () =>
      client.query(
        "INSERT INTO rollup_pending (tenant_id, days, order_pks, written_at) VALUES ($1, '{}', '{}', now() + interval '1 hour')",
        [t],
      );
    await comesLater();
    // picked because writes stopped (it may be stopped), the flag never raised: it sees the later write
    const paused = await refreshRun(client, t, {
      budgetMs: 60_000,
      ordersPerRefresh: 20,
      shouldStop: () => false,
    });
    expect(paused.yielded).toBe(true);
    expect(paused.refreshed).toMatchObject({ mode: 'deltas', writes: 1, orders: 20 });
    expect(await pending()).toBe(6); // five of the orders' writes and the later one
    // this server starts writing the tenant in the middle of a transaction: it is abandoned, nothing folded
    let asked = 0;
    const abandoned = await refreshRun(client, t, {
      budgetMs: 60_000,
      ordersPerRefresh: 20,
      shouldStop: () => ++asked > 2,
    });
    expect(abandoned).toEqual({ refreshed: null, yielded: true });
    expect(await pending()).toBe(6);
    // picked for lag: no way to stop it (src/jobs/pg-rollup-refresher.ts hands it no flag), the later write
    // does not stop it either
    const lagged = await refreshRun(client, t, { budgetMs: 60_000, ordersPerRefresh: 20 });
    expect(lagged.yielded).toBe(false);
    expect(lagged.refreshed).toMatchObject({ mode: 'deltas', orders: 100 });
    expect(await pending()).toBe(0);
    for (const groupBy of ['day', 'category'] as const)
      await expectFromRollups(t, request(groupBy), / on PostgreSQL /);
  });

  it('a backlog of pending orders dearer to fold in as deltas is built whole in one refresh; a small share of a large tenant stays deltas', async () => {
    const { t, writeOrders } = await salesTenant('rollups-backlog');
    await writeOrders(makeSalesOrders(400, 'B', 41));
    expect(await refreshTenantRollups(client, t)).toMatchObject({ mode: 'first build', orders: 400 });
    // 300 pending in three writes: at least the 200 asked for, and at least a quarter of the 400 folded in
    const backlog = makeSalesOrders(300, 'B-MORE', 42);
    for (let i = 0; i < backlog.length; i += 100) await writeOrders(backlog.slice(i, i + 100));
    expect(await refreshTenantRollups(client, t, { backlogRebuildOrders: 200 })).toMatchObject({
      mode: 'backlog rebuild',
      writes: 3,
      orders: 700,
    });
    const pending = await client.query('SELECT 1 FROM rollup_pending WHERE tenant_id = $1', [t]);
    expect(pending.rowCount).toBe(0);
    const whole = (groupBy: RollupGroup) => ({
      ...request(groupBy),
      start: Date.parse('2026-02-01'),
      end: Date.parse('2026-02-11'),
    });
    for (const groupBy of ['hour', 'day', 'category'] as const)
      await expectFromRollups(t, whole(groupBy), / on PostgreSQL /);
    // 60 pending: over the 50 asked for, but under a quarter of the 700 folded in: added as deltas
    await writeOrders(makeSalesOrders(60, 'B-LATE', 43));
    expect(await refreshTenantRollups(client, t, { backlogRebuildOrders: 50 })).toMatchObject({
      mode: 'deltas',
      writes: 1,
      orders: 60,
    });
    for (const groupBy of ['hour', 'day', 'category'] as const)
      await expectFromRollups(t, whole(groupBy), / on PostgreSQL /);
  });
});
