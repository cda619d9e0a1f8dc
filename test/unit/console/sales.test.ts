import { describe, expect, it } from 'vitest';
import {
  bucketStart,
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

  it('draws buckets in time order, money in major units, and the 95% band only in approx mode', () => {
    const approx: SalesAnswer = {
      data: [bucket('2026-03-02', { revenue_cents: 250 }), bucket('2026-03-01')],
      meta: {
        precision: 'approx',
        elapsed_ms: 1,
        error_bounds: { unique_customers: { relative_standard_error: 0.01, relative_error_95: 0.0196 } },
      },
    };
    const s = salesSeries(approx);
    expect(s.x).toEqual([utc('2026-03-01T00:00:00Z'), utc('2026-03-02T00:00:00Z')]);
    expect(s.revenue).toEqual([10, 2.5]);
    expect(s.customersHigh[0]).toBeCloseTo(101.96);
    expect(s.customersLow[0]).toBeCloseTo(98.04);
    expect(s.p99).toEqual([9.9, 9.9]);
    const exact = salesSeries({ ...approx, meta: { ...approx.meta, precision: 'exact' } });
    expect(exact.customersHigh).toEqual(exact.customers);
    expect(exact.customersLow).toEqual(exact.customers);
    expect(salesTotals(approx.data)).toEqual({ revenue_cents: 1250, orders: 4, units: 6 });
  });
});
