import { describe, expect, it } from 'vitest';
import {
  combineSalesResults,
  DAY,
  HOUR,
  MIN_BUCKETS_PER_PART,
  type SalesResult,
  splitTimeRange,
} from '../../src/domain/sales.js';

describe('splitTimeRange', () => {
  it('cuts at bucket boundaries into contiguous parts covering the range exactly', () => {
    const start = Date.UTC(2025, 0, 1, 5, 30);
    const end = Date.UTC(2026, 0, 1, 7, 15);
    for (const [groupBy, size] of [
      ['day', DAY],
      ['hour', HOUR],
    ] as const) {
      for (const parts of [2, 3, 4]) {
        const ranges = splitTimeRange(start, groupBy === 'day' ? end : start + 90 * DAY, groupBy, parts);
        expect(ranges.length).toBe(parts);
        expect(ranges[0]![0]).toBe(start);
        expect(ranges.at(-1)![1]).toBe(groupBy === 'day' ? end : start + 90 * DAY);
        for (let i = 1; i < ranges.length; i++) {
          expect(ranges[i]![0]).toBe(ranges[i - 1]![1]); // contiguous
          expect(ranges[i]![0] % size).toBe(0); // on the bucket grid: no bucket in two parts
        }
      }
    }
  });

  it('keeps a short range whole, and never makes parts of fewer than the minimum buckets', () => {
    expect(splitTimeRange(0, 10 * DAY, 'day', 4)).toEqual([[0, 10 * DAY]]);
    expect(splitTimeRange(0, 365 * DAY, 'day', 1)).toEqual([[0, 365 * DAY]]);
    expect(splitTimeRange(0, 365 * DAY, 'day', 0)).toEqual([[0, 365 * DAY]]);
    const ranges = splitTimeRange(0, (2 * MIN_BUCKETS_PER_PART + 1) * HOUR, 'hour', 8);
    expect(ranges.length).toBe(2);
  });
});

describe('combineSalesResults', () => {
  const part = (keys: string[], rows: number, rebuilt: number, method: string): SalesResult => ({
    data: keys.map((key) => ({
      key,
      orders: 1,
      units: 1,
      revenue_cents: 1,
      unique_customers: 1,
      avg_order_value_cents: 1,
      p50_order_value_cents: 1,
      p95_order_value_cents: 1,
      p99_order_value_cents: 1,
    })),
    meta: {
      method,
      precision: 'approx',
      rows_scanned: rows,
      freshness: { rebuilt_hours: rebuilt, as_of: 'x' },
    },
  });

  it('concatenates the parts in order and sums what was scanned and rebuilt', () => {
    const one = part(['a'], 3, 1, 'approx: rollup_daily');
    expect(combineSalesResults([one], 9)).toBe(one);
    const both = combineSalesResults(
      [part(['a', 'b'], 3, 1, 'approx: rollup_hourly'), part(['c'], 4, 2, 'approx: rollup_daily')],
      12.5,
    );
    expect(both.data.map((b) => b.key)).toEqual(['a', 'b', 'c']);
    expect(both.meta).toMatchObject({
      rows_scanned: 7,
      elapsed_ms: 12.5,
      parallel_parts: 2,
      method: 'approx: rollup_hourly; approx: rollup_daily',
      freshness: { rebuilt_hours: 3, as_of: 'x' },
    });
  });
});
