/** Sales metrics as the console asks for them and draws them: queries, bucket keys to time, series. */

export const TIME_GROUPINGS = ['hour', 'day', 'week', 'month'] as const;
export type TimeGrouping = (typeof TIME_GROUPINGS)[number];
export type Precision = 'approx' | 'exact';

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
  groupBy: TimeGrouping | 'category' | 'product',
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
export function suggestedGrouping(range: SalesRange): TimeGrouping {
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

/** Columns for the charts: x in Unix seconds, money in major units, and the 95% band of distinct customers. */
export interface SalesSeries {
  x: number[];
  revenue: number[];
  orders: number[];
  customers: number[];
  /** the band drawn around customers in approx mode (equal to customers when exact) */
  customersLow: number[];
  customersHigh: number[];
  p50: number[];
  p95: number[];
  p99: number[];
}

export function salesSeries(answer: SalesAnswer): SalesSeries {
  const rows = [...answer.data].sort((a, b) => bucketStart(a.key) - bucketStart(b.key));
  const bound =
    answer.meta.precision === 'approx'
      ? (answer.meta.error_bounds?.unique_customers?.relative_error_95 ?? 0)
      : 0;
  const major = (cents: number) => cents / 100;
  return {
    x: rows.map((r) => bucketStart(r.key)),
    revenue: rows.map((r) => major(r.revenue_cents)),
    orders: rows.map((r) => r.orders),
    customers: rows.map((r) => r.unique_customers),
    customersLow: rows.map((r) => Math.max(0, r.unique_customers * (1 - bound))),
    customersHigh: rows.map((r) => r.unique_customers * (1 + bound)),
    p50: rows.map((r) => major(r.p50_order_value_cents)),
    p95: rows.map((r) => major(r.p95_order_value_cents)),
    p99: rows.map((r) => major(r.p99_order_value_cents)),
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
