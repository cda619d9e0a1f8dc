/**
 * Sales from the pre-aggregates (src/storage/rollups.ts): which path answers a request (`rollupReader`, the
 * planner), and the readers of time buckets, categories and products, exact or approx.
 */

import { monthOfDay, splitIntoMonths } from '../domain/months.js';
import {
  avg,
  type Bucket,
  DAY,
  DEFAULT_SALES_KEY,
  HOUR,
  isDefaultSale,
  type SalesRequest,
  type TimeGroup,
  timeKey,
} from '../domain/sales.js';
import { type AggregateRow, aggregateFor, SalesAggregate } from '../sketches/sales-aggregate.js';
import { categoryRollupSql, dirtyMonthsSql, rollupAnswersSql, rollupSql } from '../storage/sales-sql.js';
import type { Db } from '../storage/sqlite.js';
import { approxBucket, exactBucket, type SalesAnswer } from './buckets.js';

/**
 * The pre-aggregate path that answers a request, with its query name for the timings, or null when
 * only the orders can: time buckets (exact only over whole hours) and categories over whole days;
 * products never (a ranking reads every line of the range: src/sales/product-scan.ts); `source=orders`
 * always reads the orders.
 */
export function rollupReader(db: Db, r: SalesRequest): { query: string; read: () => SalesAnswer } | null {
  const wholeHours = r.start % HOUR === 0 && r.end % HOUR === 0;
  const wholeDays = r.start % DAY === 0 && r.end % DAY === 0;
  const query = `metrics_${r.precision}_${r.groupBy}`;
  if (r.source === 'orders') return null;
  switch (r.groupBy) {
    case 'day':
    case 'hour':
    case 'week':
    case 'month':
      return r.precision === 'approx' || wholeHours
        ? { query, read: () => fromRollups(db, r as SalesRequest & { groupBy: TimeGroup }) }
        : null;
    case 'category':
      return wholeDays ? { query, read: () => categoryFromRollups(db, r) } : null;
    case 'product':
      return null; // every line of the range read once (src/sales/product-scan.ts)
  }
}

/**
 * Time buckets from the pre-aggregates: rows merged per bucket, sketches (approx) or exact sets (exact).
 * Approx over a range not in whole hours reads the whole hours around it (meta says so).
 */
function fromRollups(db: Db, r: SalesRequest & { groupBy: TimeGroup }): SalesAnswer {
  // whole days by day, week or month read the day level, anything else the hours; both keep one row per
  // status and one for the default sale statuses pre-merged, which a default request reads alone
  const daily = r.groupBy !== 'hour' && r.start % DAY === 0 && r.end % DAY === 0;
  const premerged = isDefaultSale(r.statuses);
  // by hour, or by day from the day level: a default request's bucket is one row, with its answer stored
  const oneRowPerBucket = premerged && (r.groupBy === 'hour' || (r.groupBy === 'day' && daily));
  const stored = oneRowPerBucket ? storedAnswers(db, r, daily ? 'daily' : 'hourly') : null;
  if (stored) return stored;
  const stmt = db.prepare(
    rollupSql(daily ? 'daily' : 'hourly', premerged ? 1 : r.statuses.length, r.precision),
  );
  const bucket = r.precision === 'approx' ? approxBucket : exactBucket;
  // rows arrive in time order, so a bucket is complete when the key changes: answer it and let its
  // sketches or lists go (ten years by day would otherwise hold every day's exact lists at once)
  const data: Bucket[] = [];
  let key: string | null = null;
  let current = new SalesAggregate();
  let rows = 0;
  for (const row of stmt.iterate(
    Math.floor(r.start / HOUR),
    Math.ceil(r.end / HOUR),
    ...(premerged ? [DEFAULT_SALES_KEY] : r.statuses),
  ) as IterableIterator<AggregateRow & { hour: number }>) {
    rows++;
    const rowKey = timeKey(r.groupBy, row.hour * HOUR);
    if (rowKey !== key) {
      if (key !== null) data.push(bucket(key, current));
      key = rowKey;
      current = new SalesAggregate();
    }
    current.mergeRow(row);
  }
  if (key !== null) data.push(bucket(key, current));
  const level = `${daily ? 'rollup_daily' : 'rollup_hourly'}${premerged ? ', default statuses pre-merged' : ''}`;
  return {
    data,
    rows,
    method:
      r.precision === 'approx'
        ? `approx: ${level} (exact sums, merged HyperLogLog of customers, merged t-digest of order values)`
        : `exact: ${level} (exact sums, merged sorted lists of distinct customers and of order values)`,
  };
}

/** A row of rollupAnswersSql, as an array. */
type StoredAnswerRow = [
  hour: number,
  orders: number,
  units: number,
  revenue_cents: number,
  customers: number | null,
  p50: number | null,
  p95: number | null,
  p99: number | null,
];

/**
 * Time buckets of one row each from the rows' stored answers (sql/shard/017), or null when a row of the
 * range was written before answers were stored (the caller merges the structures instead). Rows are read
 * as arrays in rollupAnswersSql's column order (hour, orders, units, revenue, customers, p50, p95, p99):
 * a month by hour is 720 of them, and an object per row cost a third of the read.
 */
function storedAnswers(
  db: Db,
  r: SalesRequest & { groupBy: TimeGroup },
  level: 'daily' | 'hourly',
): SalesAnswer | null {
  const data: Bucket[] = [];
  const rows = db
    .prepare(rollupAnswersSql(level, r.precision))
    .raw(true)
    .all(Math.floor(r.start / HOUR), Math.ceil(r.end / HOUR), DEFAULT_SALES_KEY) as StoredAnswerRow[];
  for (const [hour, orders, units, revenue, customers, p50, p95, p99] of rows) {
    if (customers === null) return null;
    data.push({
      key: timeKey(r.groupBy, hour * HOUR),
      orders,
      units,
      revenue_cents: revenue,
      unique_customers: customers,
      avg_order_value_cents: avg(revenue, orders),
      p50_order_value_cents: p50,
      p95_order_value_cents: p95,
      p99_order_value_cents: p99,
    });
  }
  const table = `rollup_${level}_answer, default statuses pre-merged`;
  return {
    data,
    rows: data.length,
    method:
      r.precision === 'approx'
        ? `approx: ${table}, one row per bucket (exact sums; its HyperLogLog estimate of customers and t-digest percentiles, computed when the row was written)`
        : `exact: ${table}, one row per bucket (exact sums; its distinct customers and nearest-rank percentiles, computed from its exact sets when the row was written)`,
  };
}

/**
 * By category over whole days: the clean whole months' per-month rows and the per-day rows of the rest
 * (the days around the whole months, and the months still dirty), merged per category; read in one
 * transaction, so the dirty months and the rows are of one snapshot.
 */
function categoryFromRollups(db: Db, r: SalesRequest): SalesAnswer {
  const premerged = isDefaultSale(r.statuses);
  const statuses = premerged ? [DEFAULT_SALES_KEY] : r.statuses;
  const groups = new Map<string, SalesAggregate>();
  let rows = 0;
  let monthRows = 0;
  db.transaction(() => {
    const startDay = r.start / DAY;
    const endDay = r.end / DAY;
    const dirty = new Set(
      (
        db.prepare(dirtyMonthsSql).all(monthOfDay(startDay), monthOfDay(endDay - 1) + 1) as {
          month: number;
        }[]
      ).map((m) => m.month),
    );
    for (const part of splitIntoMonths(startDay, endDay, dirty)) {
      const level = part.level === 'month' ? 'monthly' : 'daily';
      for (const row of db
        .prepare(categoryRollupSql(level, statuses.length, r.precision))
        .iterate(part.start, part.end, ...statuses) as IterableIterator<AggregateRow & { k: string }>) {
        rows++;
        if (part.level === 'month') monthRows++;
        aggregateFor(groups, row.k).mergeRow(row);
      }
    }
  })();
  const keys = [...groups.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)); // byte order, as SQLite sorts
  const bucketOf = r.precision === 'approx' ? approxBucket : exactBucket;
  const levels = [
    ...(monthRows > 0 ? ['rollup_monthly_category (whole months)'] : []),
    ...(rows > monthRows || monthRows === 0 ? ['rollup_daily_category'] : []),
  ].join(' + ');
  const level = premerged ? `${levels}, default statuses pre-merged` : levels;
  return {
    data: keys.map((k) => bucketOf(k, groups.get(k)!)),
    rows,
    method:
      r.precision === 'approx'
        ? `approx: ${level} (exact sums, merged HyperLogLog of customers, merged t-digest of order values)`
        : `exact: ${level} (exact sums, merged sorted lists of distinct customers and of order values)`,
  };
}
