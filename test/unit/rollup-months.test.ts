import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { firstDayOfMonth, monthOfDay, splitIntoMonths } from '../../src/domain/months.js';
import { ProductSchema } from '../../src/domain/order-schema.js';
import { DAY, type SalesRequest } from '../../src/domain/sales.js';
import { exactFromOrders } from '../../src/sales/exact-scan.js';
import { rollupReader } from '../../src/sales/rollup-readers.js';
import { ProductWriter } from '../../src/storage/order-writer.js';
import { ALL_TIME, RollupBuilder } from '../../src/storage/rollups.js';
import { makeOrders, type Order, product } from '../helpers/data.js';
import { testShard } from '../helpers/shard.js';

const day = (iso: string) => Date.parse(iso) / DAY;

describe('epoch months', () => {
  it('map days to months and back, across year ends and leap days', () => {
    expect(monthOfDay(0)).toBe(0);
    expect(monthOfDay(day('2026-01-01'))).toBe(56 * 12);
    expect(monthOfDay(day('2024-02-29'))).toBe(54 * 12 + 1);
    expect(monthOfDay(day('2025-12-31'))).toBe(55 * 12 + 11);
    for (const iso of ['1970-01-01', '2024-02-01', '2024-03-01', '2025-12-01', '2026-01-01'])
      expect(firstDayOfMonth(monthOfDay(day(iso)))).toBe(day(iso));
    expect(firstDayOfMonth(monthOfDay(day('2024-02-29')) + 1)).toBe(day('2024-03-01'));
  });

  it('split a range into the clean whole months and the days of the rest', () => {
    const m = (iso: string) => monthOfDay(day(iso));
    // inside one month: days only
    expect(splitIntoMonths(day('2026-03-05'), day('2026-03-20'), new Set())).toEqual([
      { level: 'day', start: day('2026-03-05'), end: day('2026-03-20') },
    ]);
    // exactly one month
    expect(splitIntoMonths(day('2026-03-01'), day('2026-04-01'), new Set())).toEqual([
      { level: 'month', start: m('2026-03-01'), end: m('2026-04-01') },
    ]);
    // a year from the middle of a month, across the year end, one dirty month in the middle
    expect(splitIntoMonths(day('2025-11-15'), day('2026-11-15'), new Set([m('2026-04-01')]))).toEqual([
      { level: 'day', start: day('2025-11-15'), end: day('2025-12-01') },
      { level: 'month', start: m('2025-12-01'), end: m('2026-04-01') },
      { level: 'day', start: day('2026-04-01'), end: day('2026-05-01') },
      { level: 'month', start: m('2026-05-01'), end: m('2026-11-01') },
      { level: 'day', start: day('2026-11-01'), end: day('2026-11-15') },
    ]);
    // a dirty month next to the edge days joins them into one run of days
    expect(
      splitIntoMonths(day('2026-01-20'), day('2026-04-01'), new Set([m('2026-02-01'), m('2026-03-01')])),
    ).toEqual([{ level: 'day', start: day('2026-01-20'), end: day('2026-04-01') }]);
  });
});

const { db, write } = testShard('rollup-months');
const builder = new RollupBuilder(db);

/** `count` orders spread evenly over [from, to). */
function ordersOver(count: number, prefix: string, from: string, to: string, seed = 1): Order[] {
  const start = Date.parse(from);
  const step = (Date.parse(to) - start) / count;
  return makeOrders(count, prefix, seed).map((o, i) => ({
    ...o,
    created_at: new Date(start + Math.floor(i * step)).toISOString(),
  }));
}

const request = (
  precision: 'exact' | 'approx',
  statuses = ['paid', 'shipped', 'delivered'],
): SalesRequest => ({
  groupBy: 'category',
  start: Date.parse('2026-01-01'),
  end: Date.parse('2026-06-01'),
  precision,
  source: 'auto',
  statuses,
  top: 10,
});
const fromRollups = (r: SalesRequest) => rollupReader(db, r)!.read();
const dirtyMonths = () =>
  (db.prepare('SELECT month FROM rollup_dirty_months ORDER BY month').all() as { month: number }[]).map(
    (r) => r.month,
  );
const monthRows = (iso: string) =>
  (
    db
      .prepare('SELECT count(*) AS n FROM rollup_monthly_category WHERE month = ?')
      .get(monthOfDay(day(iso))) as { n: number }
  ).n;

/** Exact answers from the month level equal the definition (the orders read), for the default and other statuses. */
function expectExactAsDefined(): void {
  for (const statuses of [['paid', 'shipped', 'delivered'], ['paid', 'cancelled'], ['pending']]) {
    const r = request('exact', statuses);
    const answer = fromRollups(r);
    expect(answer.data.length).toBeGreaterThan(0);
    expect(answer.data).toEqual(exactFromOrders(db, { ...r, source: 'orders' }).data);
  }
}

describe('the month level by category', () => {
  it('is merged from the days once a bulk load is rebuilt, and answers what the orders do', () => {
    write(ordersOver(3000, 'bulk', '2026-01-10', '2026-05-20'));
    expect(builder.applyPending(0).mode).toBe('marked');
    expect(dirtyMonths().map((m) => firstDayOfMonth(m) * DAY)).toEqual(
      ['2026-01-01', '2026-02-01', '2026-03-01', '2026-04-01', '2026-05-01'].map(Date.parse),
    );
    const rebuilt = builder.rebuildDirty(ALL_TIME.start, ALL_TIME.end);
    expect(rebuilt.remaining).toBe(0);
    expect(dirtyMonths()).toEqual([]);
    for (const month of ['2026-01-01', '2026-03-01', '2026-05-01'])
      expect(monthRows(month)).toBeGreaterThan(0);
    const answer = fromRollups(request('exact'));
    expect(answer.method).toContain(
      'exact: rollup_monthly_category (whole months), default statuses pre-merged',
    );
    // Jan..May whole: five months' rows, no day rows (every status pre-merged: 2 categories x 5 months)
    expect(answer.rows).toBe(10);
    expectExactAsDefined();
  });

  it('approx reads the same sums and, within the sketches, the same distinct counts as the days alone', () => {
    const months = fromRollups(request('approx'));
    // a range starting a day into January reads every day of the year's part but whole months after it
    const days = fromRollups({ ...request('approx'), start: Date.parse('2026-01-02') });
    expect(months.rows).toBeLessThan(days.rows);
    const sums = (d: typeof months.data) => d.map((b) => [b.key, b.orders, b.units, b.revenue_cents]);
    const exact = exactFromOrders(db, { ...request('exact'), source: 'orders' }).data;
    expect(sums(months.data)).toEqual(sums(exact));
    for (const [i, b] of months.data.entries())
      expect(Math.abs(b.unique_customers - exact[i]!.unique_customers)).toBeLessThanOrEqual(
        Math.ceil(exact[i]!.unique_customers * 0.05),
      );
  });

  it('takes a trickle of new orders as deltas into a clean month', () => {
    write(ordersOver(40, 'trickle', '2026-02-03', '2026-02-04', 7));
    expect(builder.applyPending()).toEqual({ orders: 40, mode: 'delta' });
    expect(dirtyMonths()).toEqual([]);
    expectExactAsDefined();
  });

  it('takes one batch of deltas spread over many days of two months into each month once, as the days', () => {
    // a backfill's trickle: 300 orders over seven weeks, folded in one go (each month's rows merged with
    // the batch's lines of all its days together)
    write(ordersOver(300, 'spread', '2026-02-05', '2026-03-25', 9));
    expect(builder.applyPending()).toEqual({ orders: 300, mode: 'delta' });
    expect(dirtyMonths()).toEqual([]);
    expect(fromRollups(request('exact')).method).toContain('rollup_monthly_category (whole months)');
    expectExactAsDefined();
    // the month rows hold what their days hold (the days take the same lines one day at a time)
    const byMonths = fromRollups(request('approx'));
    const byDays = fromRollups({ ...request('approx'), start: Date.parse('2026-01-02') });
    const sums = (d: typeof byMonths.data) => d.map((b) => [b.key, b.orders, b.units, b.revenue_cents]);
    expect(sums(byMonths.data)).toEqual(sums(byDays.data));
  });

  it('reads the days of a month whose hours are dirty, and merges the month again with its last dirty day', () => {
    write(ordersOver(200, 'late', '2026-03-05', '2026-03-25', 9));
    builder.applyPending(0);
    const march = monthOfDay(day('2026-03-01'));
    expect(dirtyMonths()).toEqual([march]);
    const stale = fromRollups(request('exact'));
    expect(stale.rows).toBeGreaterThan(10); // March by day
    expect(stale.method).toContain('rollup_monthly_category (whole months) + rollup_daily_category');
    // part of March rebuilt: the month stays dirty, its answer (days) is right for what is rebuilt
    builder.rebuildDirty(Date.parse('2026-03-15'), Date.parse('2026-04-01'));
    expect(dirtyMonths()).toEqual([march]);
    builder.rebuildDirty(Date.parse('2026-03-01'), Date.parse('2026-03-15'));
    expect(dirtyMonths()).toEqual([]);
    expect(fromRollups(request('exact')).rows).toBe(10);
    expectExactAsDefined();
  });

  it('merges a month listed dirty with clean days (a migrated shard) at the next catch-up of its range', () => {
    const april = monthOfDay(day('2026-04-01'));
    db.prepare('DELETE FROM rollup_monthly_category WHERE month = ?').run(april);
    db.prepare('INSERT INTO rollup_dirty_months (month) VALUES (?)').run(april);
    expectExactAsDefined(); // read from April's days meanwhile
    expect(builder.rebuildDirty(Date.parse('2026-04-10'), Date.parse('2026-04-12')).months).toBe(1);
    expect(dirtyMonths()).toEqual([]);
    expect(monthRows('2026-04-01')).toBeGreaterThan(0);
    expectExactAsDefined();
  });

  it('counts the lines of a product added after the builder read the product categories', () => {
    new ProductWriter(db).writeBatch([v.parse(ProductSchema, product(9, { category: 'hats' }))]);
    write(
      ordersOver(30, 'hats', '2026-04-02', '2026-04-04', 11).map((o) => ({
        ...o,
        status: 'paid',
        items: [{ product_id: 9, quantity: 2, unit_price_cents: 700 }],
        total_cents: 1400,
      })),
    );
    builder.applyPending(0); // hours marked: the rebuild reads the day's lines
    builder.rebuildDirty(ALL_TIME.start, ALL_TIME.end);
    const hats = fromRollups(request('exact')).data.find((b) => b.key === 'hats');
    expect(hats).toMatchObject({ orders: 30, units: 60, revenue_cents: 42_000 });
    expectExactAsDefined();
  });

  it('is rebuilt with everything by a full rebuild', () => {
    db.prepare('UPDATE rollup_monthly_category SET orders = orders + 1').run(); // drifted
    builder.markAllDirty();
    expect(dirtyMonths()).toHaveLength(5);
    builder.rebuildDirty(ALL_TIME.start, ALL_TIME.end);
    expect(dirtyMonths()).toEqual([]);
    expectExactAsDefined();
  });
});
