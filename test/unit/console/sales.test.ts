import { describe, expect, it } from 'vitest';
import {
  bucketStart,
  bucketStarts,
  lastDays,
  type SalesAnswer,
  type SalesBucket,
  salesParams,
  salesSeries,
  salesTotals,
  suggestedGrouping,
} from '../../../console/lib/sales.js';

const utc = (iso: string) => Date.parse(iso) / 1000;

function bucket(key: string, extra: Partial<SalesBucket> = {}): SalesBucket {
  return {
    key,
    orders: 2,
    units: 3,
    revenue_cents: 1000,
    unique_customers: 100,
    avg_order_value_cents: 500,
    p50_order_value_cents: 400,
    p95_order_value_cents: 900,
    p99_order_value_cents: 990,
    ...extra,
  };
}

describe('console sales', () => {
  it('reads every time bucket key the API answers', () => {
    expect(bucketStart('2026-03-01')).toBe(utc('2026-03-01T00:00:00Z'));
    expect(bucketStart('2026-03-01T13:00:00Z')).toBe(utc('2026-03-01T13:00:00Z'));
    expect(bucketStart('2026-03')).toBe(utc('2026-03-01T00:00:00Z'));
    // ISO weeks: week 1 holds January 4th and starts on a Monday
    expect(bucketStart('2026-W01')).toBe(utc('2025-12-29T00:00:00Z'));
    expect(bucketStart('2021-W01')).toBe(utc('2021-01-04T00:00:00Z'));
    expect(bucketStart('2020-W53')).toBe(utc('2020-12-28T00:00:00Z'));
    expect(() => bucketStart('shoes')).toThrow(RangeError);
  });

  it('asks for the day after the picked end (the API end is exclusive) and refuses a reversed range', () => {
    expect(salesParams({ start: '2026-02-01', end: '2026-02-28' }, 'day', 'exact')).toEqual({
      group_by: 'day',
      start_date: '2026-02-01',
      end_date: '2026-03-01',
      precision: 'exact',
    });
    expect(
      salesParams({ start: '2026-02-01', end: '2026-02-01' }, 'product', 'approx', { top: '20' }),
    ).toMatchObject({
      end_date: '2026-02-02',
      top: '20',
    });
    expect(() => salesParams({ start: '2026-03-01', end: '2026-02-01' }, 'day', 'exact')).toThrow(RangeError);
    expect(() => salesParams({ start: '', end: '2026-02-01' }, 'day', 'exact')).toThrow(RangeError);
  });

  it('picks a grouping that keeps the chart readable, and ranges end on the given day', () => {
    expect(lastDays('2026-03-10', 7)).toEqual({ start: '2026-03-04', end: '2026-03-10' });
    expect(suggestedGrouping(lastDays('2026-03-10', 2))).toBe('hour');
    expect(suggestedGrouping(lastDays('2026-03-10', 90))).toBe('day');
    expect(suggestedGrouping(lastDays('2026-03-10', 365))).toBe('week');
    expect(suggestedGrouping(lastDays('2026-03-10', 1000))).toBe('month');
  });

  it('lays out every bucket the range touches, for each grouping', () => {
    expect(bucketStarts({ start: '2026-03-01', end: '2026-03-01' }, 'hour')).toHaveLength(24);
    expect(bucketStarts({ start: '2026-02-27', end: '2026-03-02' }, 'day')).toEqual(
      ['2026-02-27', '2026-02-28', '2026-03-01', '2026-03-02'].map((d) => utc(`${d}T00:00:00Z`)),
    );
    // weeks start on the Monday on or before the first day; 2026-03-01 is a Sunday
    expect(bucketStarts({ start: '2026-03-01', end: '2026-03-09' }, 'week')).toEqual(
      ['2026-02-23', '2026-03-02', '2026-03-09'].map((d) => utc(`${d}T00:00:00Z`)),
    );
    expect(bucketStarts({ start: '2025-11-15', end: '2026-02-01' }, 'month')).toEqual(
      ['2025-11-01', '2025-12-01', '2026-01-01', '2026-02-01'].map((d) => utc(`${d}T00:00:00Z`)),
    );
    // the keys the API answers fall on these starts
    const keys = [
      ['2026-W10', 'week'],
      ['2026-03', 'month'],
      ['2026-03-05', 'day'],
      ['2026-03-05T07:00:00Z', 'hour'],
    ] as const;
    for (const [key, grouping] of keys)
      expect(bucketStarts({ start: '2026-03-01', end: '2026-03-31' }, grouping)).toContain(bucketStart(key));
  });

  it('draws every bucket: zero where nothing sold, a gap in the percentiles, the 95% band only in approx mode', () => {
    const approx: SalesAnswer = {
      data: [bucket('2026-03-03', { revenue_cents: 250 }), bucket('2026-03-01')],
      meta: {
        precision: 'approx',
        elapsed_ms: 1,
        error_bounds: { unique_customers: { relative_standard_error: 0.01, relative_error_95: 0.0196 } },
      },
    };
    const starts = bucketStarts({ start: '2026-03-01', end: '2026-03-03' }, 'day');
    const s = salesSeries(approx, starts);
    expect(s.x).toEqual(starts);
    expect(s.revenue).toEqual([10, 0, 2.5]);
    expect(s.orders).toEqual([2, 0, 2]);
    expect(s.customersHigh[0]).toBeCloseTo(101.96);
    expect(s.customersLow[0]).toBeCloseTo(98.04);
    expect(s.p99).toEqual([9.9, null, 9.9]);
    const exact = salesSeries({ ...approx, meta: { ...approx.meta, precision: 'exact' } }, starts);
    expect(exact.customersHigh).toEqual(exact.customers);
    expect(exact.customersLow).toEqual(exact.customers);
    expect(salesTotals(approx.data)).toEqual({ revenue_cents: 1250, orders: 4, units: 6 });
  });
});
