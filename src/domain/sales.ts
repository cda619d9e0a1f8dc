import * as v from 'valibot';
import { DateOrDateTime } from './dates.js';
import {
  GROUP_BYS,
  type GroupBy,
  ORDER_STATUSES,
  PRECISIONS,
  TIME_GROUPS,
  type TimeGroup,
} from './vocabulary.js';

export { GROUP_BYS, type GroupBy, TIME_GROUPS, type TimeGroup } from './vocabulary.js';

export function isTimeGroup(g: GroupBy): g is TimeGroup {
  return (TIME_GROUPS as readonly string[]).includes(g);
}
/** Sales metrics as an Arrow IPC stream (Accept), a record batch at a time. */
export const ARROW_STREAM_MEDIA_TYPE = 'application/vnd.apache.arrow.stream';
/** Most products one JSON answer ranks; an Arrow stream (Accept) may rank up to MAX_TOP_ARROW. */
export const MAX_TOP_JSON = 1000;
export const MAX_TOP_ARROW = 1_000_000;
export const SALES_SOURCES = ['auto', 'orders'] as const;
export const DEFAULT_SALE_STATUSES = ['paid', 'shipped', 'delivered'];
/**
 * The daily rollup's status key for the default sale statuses merged into one row per day (no order has
 * this status: statuses hold no commas), so the default request by day reads one row per day.
 */
export const DEFAULT_SALES_KEY = DEFAULT_SALE_STATUSES.join(',');

/**
 * The rollup status keys an order of `status` counts under: its own, and the default sale statuses'
 * pre-merged key when it is one of them (the hour, day and day-and-category levels keep that row).
 */
export function rollupStatusKeys(status: string): readonly string[] {
  return DEFAULT_SALE_STATUSES.includes(status) ? [status, DEFAULT_SALES_KEY] : [status];
}

/** Whether a status list is the default set of sale statuses (in any order, repeats allowed). */
export function isDefaultSale(statuses: readonly string[]): boolean {
  const set = new Set(statuses);
  return set.size === DEFAULT_SALE_STATUSES.length && DEFAULT_SALE_STATUSES.every((s) => set.has(s));
}
/**
 * An approx read does not wait for the shard's write lock (held by the writer or the upkeep thread) to fold
 * in orders acknowledged less than this long ago: it answers without them and says so (meta.freshness
 * `unfolded_orders`, `oldest_unfolded_ms`). Older ones it waits for, so an order acknowledged 2 s before a
 * read is always counted.
 */
export const UNFOLDED_MAX_AGE_MS = 1500;

export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;
/** Longest range per request: about ten years by day, 92 days by hour (2,208 buckets). */
export const MAX_RANGE_MS: Record<GroupBy, number> = {
  day: 3660 * DAY,
  hour: 92 * DAY,
  week: 3660 * DAY,
  month: 3660 * DAY,
  product: 3660 * DAY,
  category: 3660 * DAY,
};

export const SalesQuery = v.object({
  group_by: v.picklist(GROUP_BYS),
  start_date: DateOrDateTime,
  end_date: DateOrDateTime,
  precision: v.optional(v.picklist(PRECISIONS), 'approx'),
  /** Where exact answers come from: `auto` (the rollups' exact sets when they can answer) or `orders`. */
  source: v.optional(v.picklist(SALES_SOURCES), 'auto'),
  status: v.optional(
    v.pipe(
      v.string(),
      v.transform((s) => [
        ...new Set(
          s
            .split(',')
            .map((x) => x.trim())
            .filter(Boolean),
        ),
      ]),
      v.check(
        (xs) => xs.length > 0 && xs.every((x) => (ORDER_STATUSES as readonly string[]).includes(x)),
        `statuses among ${ORDER_STATUSES.join(', ')}`,
      ),
    ),
  ),
  top: v.optional(
    v.pipe(
      v.string(),
      v.regex(/^\d{1,7}$/, 'an integer'),
      v.transform(Number),
      v.minValue(1),
      v.maxValue(MAX_TOP_ARROW),
    ),
    '100',
  ),
});
export type SalesQueryOut = v.InferOutput<typeof SalesQuery>;

export interface SalesRequest {
  groupBy: GroupBy;
  start: number;
  end: number;
  precision: 'approx' | 'exact';
  source: (typeof SALES_SOURCES)[number];
  statuses: string[];
  top: number;
}

export interface Bucket {
  key: string | number;
  orders: number;
  units: number;
  revenue_cents: number;
  unique_customers: number;
  avg_order_value_cents: number;
  p50_order_value_cents: number | null;
  p95_order_value_cents: number | null;
  p99_order_value_cents: number | null;
}

/** Buckets keyed by name (categories) in code-unit order of the key: the order every answer lists them in. */
export function byBucketKey(a: Pick<Bucket, 'key'>, b: Pick<Bucket, 'key'>): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

export interface SalesResult {
  data: Bucket[];
  meta: Record<string, unknown>;
}

/**
 * A SalesResult as the route sends it: its JSON, written and encoded by the worker and transferred, so the
 * main thread neither clones a thousand buckets in nor stringifies them out (a month by hour: ~2 ms of the
 * main thread's time per request, and the garbage it left); and whether a rebuild slice is to follow.
 */
export interface SalesJson {
  body: Uint8Array;
  rebuildQueued: boolean;
}

/** The last day isoDate formatted, and its text: buckets come in time order, so most calls repeat it. */
let formattedDay = Number.NaN;
let formattedDate = '';

/**
 * The UTC date of `ms` as YYYY-MM-DD, as `toISOString` writes it, formatted once per day: a month by hour
 * keys 720 buckets of 30 days, and a Date and its ISO string per bucket was about a tenth of the worker's time.
 */
function isoDate(ms: number): string {
  const day = Math.floor(ms / DAY);
  if (day !== formattedDay) {
    formattedDate = new Date(day * DAY).toISOString().slice(0, 10);
    formattedDay = day;
  }
  return formattedDate;
}

/** Bucket keys (UTC): day YYYY-MM-DD, hour YYYY-MM-DDTHH:00:00Z, ISO week YYYY-Www, month YYYY-MM. */
export function timeKey(groupBy: TimeGroup, ms: number): string {
  switch (groupBy) {
    case 'day':
      return isoDate(ms);
    case 'hour': {
      const hour = Math.floor((ms - Math.floor(ms / DAY) * DAY) / HOUR);
      return `${isoDate(ms)}T${hour < 10 ? '0' : ''}${hour}:00:00Z`;
    }
    case 'month':
      return isoDate(ms).slice(0, 7);
    case 'week':
      return isoWeek(ms);
  }
}

/** The bucket of `groupBy` holding `ms`: its key (timeKey) and its span [start, end) in milliseconds. */
export function timeBucket(groupBy: TimeGroup, ms: number): { key: string; start: number; end: number } {
  let start: number;
  let end: number;
  switch (groupBy) {
    case 'hour':
      start = Math.floor(ms / HOUR) * HOUR;
      end = start + HOUR;
      break;
    case 'day':
      start = Math.floor(ms / DAY) * DAY;
      end = start + DAY;
      break;
    case 'week': {
      const day = Math.floor(ms / DAY);
      start = (day - ((((day + 3) % 7) + 7) % 7)) * DAY; // 1970-01-01 was a Thursday; weeks start on Monday
      end = start + 7 * DAY;
      break;
    }
    case 'month': {
      const d = new Date(ms);
      start = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
      end = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
      break;
    }
  }
  return { key: timeKey(groupBy, start), start, end };
}

/**
 * ISO 8601 week key: weeks start on Monday, and week 1 is the one holding the year's first Thursday, so
 * the days around New Year may belong to the other year's week (2026-01-01 is in 2026-W01, 2027-01-01 in
 * 2026-W53).
 */
export function isoWeek(ms: number): string {
  const day = Math.floor(ms / DAY);
  const weekday = (new Date(day * DAY).getUTCDay() + 6) % 7; // Monday 0 .. Sunday 6
  const thursday = day - weekday + 3; // the week's Thursday decides its year
  const year = new Date(thursday * DAY).getUTCFullYear();
  const week = Math.floor((thursday - Date.UTC(year, 0, 1) / DAY) / 7) + 1;
  return `${year}-W${String(week).padStart(2, '0')}`;
}

/** Nearest-rank percentile of ascending values: the smallest value with at least p% at or below it. */
export function nearestRank(sorted: ArrayLike<number>, p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[nearestRankIndex(sorted.length, p)]!;
}

/** Where the nearest-rank `p`th percentile of `n` sorted values lies (0-based; n > 0). */
export function nearestRankIndex(n: number, p: number): number {
  return Math.max(1, Math.ceil((p / 100) * n)) - 1;
}

/** `meta.error_bounds` of an approx answer: how far each measure may be from the exact figure. */
export interface ErrorBounds {
  unique_customers: { relative_standard_error: number; relative_error_95: number; note: string };
  /** rank_error: of the rank the value stands at; value_relative_error: of the value itself */
  percentiles: { rank_error: number; value_relative_error?: number; note: string };
  orders: { relative_error: number };
  units: { relative_error: number };
  revenue_cents: { relative_error: number };
}

/**
 * Error bounds reported in approx mode. Unique customers: HyperLogLog relative standard error and its
 * 95% bound (1.96 RSE) in dense mode; sparse sketches (small counts) are nearly exact. Percentiles:
 * the t-digest's rank error bound, checked by the sketch tests at 0.5% for p50/p95/p99.
 */
export function errorBounds(rse: number): ErrorBounds {
  return {
    unique_customers: {
      relative_standard_error: round(rse, 5),
      relative_error_95: round(1.96 * rse, 5),
      note: 'small counts (sparse sketches) are nearly exact',
    },
    percentiles: {
      rank_error: 0.005,
      note: 't-digest (k1, compression 200): the value returned lies within 0.5% of the requested rank',
    },
    orders: { relative_error: 0 },
    units: { relative_error: 0 },
    revenue_cents: { relative_error: 0 },
  };
}

/** The bounds of an approx request answered exactly (every line read): no error on any measure. */
export function exactErrorBounds(): ErrorBounds {
  const exact = errorBounds(0);
  return {
    ...exact,
    unique_customers: {
      ...exact.unique_customers,
      note: 'counted exactly: every line of the range was read',
    },
    percentiles: { rank_error: 0, note: 'nearest-rank over every order value: exact' },
  };
}

/**
 * The bounds of an approx request counted exactly but with its percentiles read from histogram bins
 * (src/sales/key-histograms.ts): the value given lies within `relativeError` of the exact nearest-rank one.
 */
export function binnedErrorBounds(relativeError: number): ErrorBounds {
  const exact = exactErrorBounds();
  return {
    ...exact,
    percentiles: {
      rank_error: 0,
      value_relative_error: round(relativeError, 5),
      note: `read from histograms of 256 bins an octave: within ${round(relativeError * 100, 2)}% of the exact nearest-rank order value`,
    },
  };
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export function avg(revenue: number, orders: number): number {
  return orders ? Math.round(revenue / orders) : 0;
}

/**
 * Whether an answer was read from the order journal past stale pre-aggregates, a slice of their rebuild
 * to follow (`meta.freshness.rebuild_queued`, workers/sales.ts).
 */
export function rebuildQueued(meta: SalesResult['meta']): boolean {
  const freshness = meta.freshness as Record<string, unknown> | undefined;
  return freshness?.rebuild_queued === true;
}
