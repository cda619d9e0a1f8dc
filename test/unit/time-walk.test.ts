import { describe, expect, it } from 'vitest';
import {
  DEFAULT_SALE_STATUSES,
  type SalesRequest,
  TIME_GROUPS,
  type TimeGroup,
} from '../../src/domain/sales.js';
import { exactFromOrders, exactTimeByScan } from '../../src/sales/exact-scan.js';
import { exactTimeByWalk, ordersEnoughToWalk, walksOrders } from '../../src/sales/time-walk.js';
import { countOrdersInRange } from '../../src/storage/order-counts.js';
import { ordersInRangeSql, ordersInRangeUpToSql } from '../../src/storage/sales-sql.js';
import { makeOrders } from '../helpers/data.js';
import { testShard } from '../helpers/shard.js';

const { db, write } = testShard('time-walk');
// 3,000 orders spread over ~70 days, written in a shuffled order (as a backfill arrives)
const start = Date.parse('2025-12-20T00:00:00Z');
const orders = makeOrders(3000, 'W').map((o, i) => ({
  ...o,
  created_at: new Date(start + ((i * 7919) % 3000) * 2_000_000 + (i % 13) * 1000).toISOString(),
}));
write(orders);

const request = (
  groupBy: TimeGroup,
  from: string,
  to: string,
  statuses = DEFAULT_SALE_STATUSES,
): SalesRequest & { groupBy: TimeGroup } => ({
  groupBy,
  start: Date.parse(from),
  end: Date.parse(to),
  precision: 'exact',
  source: 'orders',
  statuses,
  top: 10,
});

describe('exact by time from one walk of the orders in storage order', () => {
  it('answers what the ordered scan through the date index answers, for every grouping and cut', () => {
    const cuts = [
      ['2025-12-01', '2026-04-01'], // everything
      ['2025-12-31T13:00:00Z', '2026-02-11T07:00:00Z'], // mid-day, mid-week, mid-month, across a year
      ['2026-01-07', '2026-01-09'], // two days
    ] as const;
    for (const g of TIME_GROUPS)
      for (const [from, to] of cuts)
        for (const statuses of [DEFAULT_SALE_STATUSES, ['cancelled', 'pending']]) {
          const r = request(g, from, to, statuses);
          if (g === 'hour' && r.end - r.start > 92 * 86_400_000) continue;
          const walked = exactTimeByWalk(db, r);
          expect(walked.method).toContain('one walk of the orders in storage order');
          const scanned = exactTimeByScan(db, r);
          expect(scanned.method).toContain('ordered scan');
          expect(walked.data).toEqual(scanned.data);
          expect(walked.rows).toBe(scanned.rows);
        }
  });

  it('reads the orders from the order journal, those below its start from the tables, and answers the same', () => {
    const setStart = db.prepare('UPDATE order_journal_start SET from_pk = ? WHERE id = 1');
    try {
      for (const from of [1, 1501, 3001]) {
        setStart.run(from); // every order journalled; the older half in the tables only; none
        for (const g of TIME_GROUPS) {
          const r = { ...request(g, '2025-12-01', '2026-04-01'), source: 'auto' as const };
          if (g === 'hour') continue; // (over 92 days)
          const walked = exactTimeByWalk(db, r);
          expect(walked.method.includes('from the order journal')).toBe(from <= 3000);
          expect(walked.data).toEqual(exactTimeByScan(db, r).data);
        }
      }
    } finally {
      setStart.run(1);
    }
  });

  it('answers each bucket once its months are read: every cut from the journal, with blocks of no month among them', () => {
    // buckets are answered as the walk reaches the month after them (weeks straddle months); blocks from
    // before blocks held one month (month NULL) come first and may hold any bucket's orders
    const cuts = [
      ['2025-12-01', '2026-04-01'],
      ['2025-12-31T13:00:00Z', '2026-02-11T07:00:00Z'],
      ['2026-01-26', '2026-02-09'], // two ISO weeks across the end of January
      ['2026-01-07', '2026-01-09'],
    ] as const;
    const blocks = db
      .prepare('SELECT first_pk FROM order_journal ORDER BY first_pk')
      .pluck()
      .all() as number[];
    expect(new Set(db.prepare('SELECT month FROM order_journal').pluck().all()).size).toBeGreaterThan(2);
    const setMonth = db.prepare('UPDATE order_journal SET month = NULL WHERE first_pk = ?');
    const months = db.prepare('SELECT first_pk, month FROM order_journal').all() as {
      first_pk: number;
      month: number;
    }[];
    try {
      for (const legacy of [[], blocks.filter((_, i) => i % 3 === 1)]) {
        for (const pk of legacy) setMonth.run(pk);
        for (const g of TIME_GROUPS)
          for (const [from, to] of cuts) {
            const r = { ...request(g, from, to), source: 'auto' as const };
            if (g === 'hour' && r.end - r.start > 92 * 86_400_000) continue;
            const walked = exactTimeByWalk(db, r);
            expect(walked.method).toContain('from the order journal');
            expect(walked.data, `${g} ${from} ${to}`).toEqual(exactTimeByScan(db, r).data);
            expect(walked.rows).toBe(exactTimeByScan(db, r).rows);
          }
      }
    } finally {
      const restore = db.prepare('UPDATE order_journal SET month = ? WHERE first_pk = ?');
      for (const m of months) restore.run(m.month, m.first_pk);
    }
  });

  it('is chosen for a range holding a large share of the shard, not for a small one', () => {
    expect(walksOrders(db, request('day', '2025-12-01', '2026-04-01'))).toBe(true);
    expect(walksOrders(db, request('day', '2026-01-07', '2026-01-08'))).toBe(false);
    expect(exactFromOrders(db, request('day', '2025-12-01', '2026-04-01')).method).toContain('walk');
  });

  it('is chosen for a smaller share where the journal holds every order (its walk decodes blocks)', () => {
    const days = { ...request('day', '2026-01-07', '2026-01-11'), source: 'auto' as const }; // ~1/17 of the orders
    expect(walksOrders(db, days)).toBe(true);
    expect(walksOrders(db, { ...days, source: 'orders' })).toBe(false); // the tables alone: 1/8 at least
    // a day holds ~1/70 of the orders: past where a walk of the journal costs less than the ordered
    // scan (1/80); a third of a day (~1/200) is still scanned
    const day = { ...request('day', '2026-01-07', '2026-01-08'), source: 'auto' as const };
    expect(countOrdersInRange(db, day) * 80).toBeGreaterThan(3000);
    expect(walksOrders(db, day)).toBe(true);
    expect(walksOrders(db, { ...day, end: day.start + 8 * 3_600_000 })).toBe(false);
    const setStart = db.prepare('UPDATE order_journal_start SET from_pk = ? WHERE id = 1');
    try {
      setStart.run(2);
      expect(walksOrders(db, days)).toBe(false);
    } finally {
      setStart.run(1);
    }
  });

  it('counts a range’s orders only as far as the choice needs, and chooses as with the whole count', () => {
    const year = { ...request('day', '2025-12-01', '2026-04-01'), source: 'auto' as const };
    expect(countOrdersInRange(db, year, 10)).toBe(10);
    expect(countOrdersInRange(db, year, 5000)).toBe(3000);
    for (const source of ['auto', 'orders'] as const) {
      const enough = ordersEnoughToWalk(db, { ...year, source });
      expect(enough).toBe(Math.ceil(3000 * (source === 'auto' ? 1 / 80 : 1 / 8)));
      for (let hours = 1; hours <= 24 * 80; hours = Math.ceil(hours * 1.3)) {
        const r = { ...year, source, end: year.start + hours * 3_600_000 };
        const whole = countOrdersInRange(db, r);
        expect(walksOrders(db, r, Math.min(whole, enough))).toBe(walksOrders(db, r, whole));
        expect(walksOrders(db, r)).toBe(walksOrders(db, r, whole));
      }
    }
  });

  it('takes the range’s order count from a caller that has it (the stale-rollup path) instead of counting again', () => {
    const counted: string[] = [];
    const spy = new Proxy(db, {
      get: (target, name) =>
        name === 'prepare'
          ? (sql: string) => {
              if (sql === ordersInRangeSql || sql === ordersInRangeUpToSql) counted.push(sql);
              return target.prepare(sql);
            }
          : Reflect.get(target, name, target),
    });
    const year = request('day', '2025-12-01', '2026-04-01');
    const known = countOrdersInRange(db, year);
    expect(known).toBe(3000);
    expect(exactFromOrders(spy, year, known).method).toContain('walk');
    expect(exactFromOrders(spy, { ...year, groupBy: 'product' } as never, known).data.length).toBeGreaterThan(
      0,
    );
    expect(counted).toEqual([]);
    exactFromOrders(spy, year);
    expect(counted).toHaveLength(1);
  });
});
