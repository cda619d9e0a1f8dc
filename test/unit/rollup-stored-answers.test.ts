import { describe, expect, it } from 'vitest';
import { DEFAULT_SALE_STATUSES, type SalesRequest, type TimeGroup } from '../../src/domain/sales.js';
import { exactFromOrders } from '../../src/sales/exact-scan.js';
import { rollupReader } from '../../src/sales/rollup-readers.js';
import { ALL_TIME, RollupBuilder } from '../../src/storage/rollups.js';
import { makeOrders } from '../helpers/data.js';
import { testShard } from '../helpers/shard.js';

const { db, write } = testShard('stored-answers');
const builder = new RollupBuilder(db);
// ~3 days of orders, then a bulk load's rebuild
write(makeOrders(900, 'S'));
builder.applyPending(0);
builder.rebuildDirty(ALL_TIME.start, ALL_TIME.end);

const request = (
  groupBy: TimeGroup,
  precision: 'exact' | 'approx',
  statuses = DEFAULT_SALE_STATUSES,
): SalesRequest => ({
  groupBy,
  start: Date.parse('2026-01-01'),
  end: Date.parse('2026-01-05'),
  precision,
  source: 'auto',
  statuses,
  top: 10,
});
const read = (r: SalesRequest) => rollupReader(db, r)!.read();
/** The rows' stored answers taken away, as in rows written before they were stored. */
const forgetAnswers = () => {
  for (const table of ['rollup_hourly_answer', 'rollup_daily_answer'])
    db.prepare(`UPDATE ${table} SET exact_customers = NULL, approx_customers = NULL`).run();
};

describe("time buckets of one row answer from the row's stored answer", () => {
  it('by hour and by day (default statuses), exact: the definition, no structure merged', () => {
    for (const groupBy of ['hour', 'day'] as const) {
      const answer = read(request(groupBy, 'exact'));
      expect(answer.method).toContain('one row per bucket');
      expect(answer.data.length).toBe(groupBy === 'hour' ? 75 : 4); // 900 orders, one every 5 minutes
      expect(answer.data).toEqual(
        exactFromOrders(db, { ...request(groupBy, 'exact'), source: 'orders' }).data,
      );
    }
  });

  it("approx: what merging the row's sketches answers (the same estimate; percentiles within the digest's rank error)", () => {
    const stored = { hour: read(request('hour', 'approx')), day: read(request('day', 'approx')) };
    expect(stored.day.method).toContain('one row per bucket');
    expect(stored.day.method).toMatch(/^approx: rollup_daily_answer/);
    forgetAnswers();
    for (const groupBy of ['hour', 'day'] as const) {
      const merged = read(request(groupBy, 'approx'));
      expect(merged.method).not.toContain('one row per bucket');
      expect(
        stored[groupBy].data.map((b) => [b.key, b.orders, b.units, b.revenue_cents, b.unique_customers]),
      ).toEqual(merged.data.map((b) => [b.key, b.orders, b.units, b.revenue_cents, b.unique_customers]));
      const exact = exactFromOrders(db, { ...request(groupBy, 'exact'), source: 'orders' }).data;
      for (const [i, b] of stored[groupBy].data.entries())
        for (const p of ['p50_order_value_cents', 'p95_order_value_cents', 'p99_order_value_cents'] as const)
          expect(Math.abs(b[p]! - exact[i]![p]!)).toBeLessThanOrEqual(Math.max(1, exact[i]![p]! * 0.1));
    }
  });

  it('rows written before the answers were stored, or other statuses, merge the structures', () => {
    forgetAnswers();
    const answer = read(request('day', 'exact'));
    expect(answer.method).not.toContain('one row per bucket');
    expect(answer.data).toEqual(exactFromOrders(db, { ...request('day', 'exact'), source: 'orders' }).data);
    builder.markAllDirty();
    builder.rebuildDirty(ALL_TIME.start, ALL_TIME.end);
    expect(read(request('day', 'exact')).method).toContain('one row per bucket');
    const other = request('day', 'exact', ['paid', 'cancelled']);
    expect(read(other).method).not.toContain('one row per bucket');
    expect(read(other).data).toEqual(exactFromOrders(db, { ...other, source: 'orders' }).data);
  });
});
