/** Sales metrics as the console asks for them and draws them: queries, bucket keys to time, series. */

import type { Precision, TimeGroup } from '../../src/domain/vocabulary.js';

export type { Precision, TimeGroup } from '../../src/domain/vocabulary.js';
/** The time groupings in the order the picker lists them, shortest first. */
export const TIME_GROUPINGS = ['hour', 'day', 'week', 'month'] as const satisfies readonly TimeGroup[];

/** One bucket of GET …/metrics/sales (CONTRACT §3). */
export interface SalesBucket {
  key: string;
  orders: number;
  units: number;
  revenue_cents: number;
  unique_customers: number;
  avg_order_value_cents: number;
  p50_order_value_cents: number;
  p95_order_value_cents: number;
  p99_order_value_cents: number;
}

export interface ErrorBounds {
  unique_customers?: { relative_standard_error: number; relative_error_95: number };
  percentiles?: { rank_error: number };
}

export interface SalesAnswer {
  data: SalesBucket[];
  meta: {
    method?: string;
    precision: Precision;
    elapsed_ms: number;
    rows_scanned?: number;
    error_bounds?: ErrorBounds;
    freshness?: unknown;
  };
}

export interface SalesRange {
  /** inclusive, YYYY-MM-DD */
  start: string;
  /** inclusive in the picker (a user picks the last day they want), exclusive in the API */
  end: string;
}

const DAY_MS = 86_400_000;

export function isoDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** The API's end_date is exclusive; the picker's last day is included, so the query asks for the day after. */
export function salesParams(
  range: SalesRange,
  groupBy: TimeGroup | 'category' | 'product',
  precision: Precision,
  extra: Record<string, string> = {},
): Record<string, string> {
  const end = Date.parse(`${range.end}T00:00:00Z`);
  if (!Number.isFinite(end) || !Number.isFinite(Date.parse(`${range.start}T00:00:00Z`)))
    throw new RangeError('pick a start and an end date');
  if (range.start > range.end) throw new RangeError('the start date is after the end date');
  return { group_by: groupBy, start_date: range.start, end_date: isoDay(end + DAY_MS), precision, ...extra };
}

/** The last `days` days up to and including `lastDay`. */
export function lastDays(lastDay: string, days: number): SalesRange {
  const end = Date.parse(`${lastDay}T00:00:00Z`);
  return { start: isoDay(end - (days - 1) * DAY_MS), end: lastDay };
}

/** The grouping that keeps a range's chart readable: hours up to 3 days, days up to ~4 months, then weeks. */
export function suggestedGrouping(range: SalesRange): TimeGroup {
  const days = (Date.parse(range.end) - Date.parse(range.start)) / DAY_MS + 1;
  if (days <= 3) return 'hour';
  if (days <= 120) return 'day';
  if (days <= 730) return 'week';
  return 'month';
}

/** Monday of ISO week `week` of ISO year `year`, in ms UTC. */
function isoWeekStart(year: number, week: number): number {
  const jan4 = Date.UTC(year, 0, 4);
  const jan4Weekday = (new Date(jan4).getUTCDay() + 6) % 7; // Monday 0
  return jan4 - jan4Weekday * DAY_MS + (week - 1) * 7 * DAY_MS;
}

/** A time bucket's key (hour, day, week or month) as the Unix seconds its bucket starts at. */
export function bucketStart(key: string): number {
  let m = /^(\d{4})-W(\d{2})$/.exec(key);
  if (m) return isoWeekStart(Number(m[1]), Number(m[2])) / 1000;
  m = /^(\d{4})-(\d{2})$/.exec(key);
  if (m) return Date.UTC(Number(m[1]), Number(m[2]) - 1, 1) / 1000;
  const ms = Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(key) ? `${key}T00:00:00Z` : key);
  if (!Number.isFinite(ms)) throw new RangeError(`not a time bucket key: ${key}`);
  return ms / 1000;
}

/**
 * The start (Unix seconds) of every bucket of a grouping that the range touches, in order: the x axis. The
 * API answers only buckets that hold orders; the chart shows the others as zero instead of drawing a line
 * across them.
 */
export function bucketStarts(range: SalesRange, grouping: TimeGroup): number[] {
  const first = Date.parse(`${range.start}T00:00:00Z`);
  const endExclusive = Date.parse(`${range.end}T00:00:00Z`) + DAY_MS;
  const starts: number[] = [];
  let t: number;
  let next: (ms: number) => number;
  if (grouping === 'hour' || grouping === 'day') {
    const step = grouping === 'hour' ? 3_600_000 : DAY_MS;
    t = first;
    next = (ms) => ms + step;
  } else if (grouping === 'week') {
    t = first - ((new Date(first).getUTCDay() + 6) % 7) * DAY_MS; // back to Monday
    next = (ms) => ms + 7 * DAY_MS;
  } else {
    const d = new Date(first);
    t = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
    next = (ms) => {
      const m = new Date(ms);
      return Date.UTC(m.getUTCFullYear(), m.getUTCMonth() + 1, 1);
    };
  }
  for (; t < endExclusive; t = next(t)) starts.push(t / 1000);
  return starts;
}

/**
 * Columns for the charts, one value per bucket of `starts`: money in major units, zero where a bucket had no
 * sale, no percentile there (a gap), and the 95% band of distinct customers in approx mode.
 */
export interface SalesSeries {
  x: number[];
  revenue: number[];
  orders: number[];
  customers: number[];
  /** the band drawn around customers in approx mode (equal to customers when exact) */
  customersLow: number[];
  customersHigh: number[];
  p50: (number | null)[];
  p95: (number | null)[];
  p99: (number | null)[];
}

export function salesSeries(answer: SalesAnswer, starts: readonly number[]): SalesSeries {
  const byStart = new Map(answer.data.map((b) => [bucketStart(b.key), b]));
  const bound =
    answer.meta.precision === 'approx'
      ? (answer.meta.error_bounds?.unique_customers?.relative_error_95 ?? 0)
      : 0;
  const rows = starts.map((x) => byStart.get(x));
  const major = (cents: number) => cents / 100;
  const percentile = (pick: (b: SalesBucket) => number) => rows.map((r) => (r ? major(pick(r)) : null));
  return {
    x: [...starts],
    revenue: rows.map((r) => (r ? major(r.revenue_cents) : 0)),
    orders: rows.map((r) => r?.orders ?? 0),
    customers: rows.map((r) => r?.unique_customers ?? 0),
    customersLow: rows.map((r) => Math.max(0, (r?.unique_customers ?? 0) * (1 - bound))),
    customersHigh: rows.map((r) => (r?.unique_customers ?? 0) * (1 + bound)),
    p50: percentile((b) => b.p50_order_value_cents),
    p95: percentile((b) => b.p95_order_value_cents),
    p99: percentile((b) => b.p99_order_value_cents),
  };
}

export interface SalesTotals {
  revenue_cents: number;
  orders: number;
  units: number;
}

/** Totals over the buckets of a time grouping (each order counts in exactly one bucket). */
export function salesTotals(buckets: readonly SalesBucket[]): SalesTotals {
  let revenue_cents = 0;
  let orders = 0;
  let units = 0;
  for (const b of buckets) {
    revenue_cents += b.revenue_cents;
    orders += b.orders;
    units += b.units;
  }
  return { revenue_cents, orders, units };
}
