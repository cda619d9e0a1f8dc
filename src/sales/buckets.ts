/** A sales answer's buckets: the contract's fields from a group's sums, distinct customers and order values. */
import { avg, type Bucket, nearestRank } from '../domain/sales.js';
import type { SalesAggregate } from '../sketches/sales-aggregate.js';
import { placeNearestRanks } from './order-statistics.js';

/**
 * Buckets, how many rows were read for them, and which path read them; `percentiles: 'binned'` where the
 * order-value percentiles came from histogram bins (an approx ranking of categories), not exactly.
 */
export type SalesAnswer = { data: Bucket[]; rows: number; method: string; percentiles?: 'binned' };

export function approxBucket(key: Bucket['key'], b: SalesAggregate): Bucket {
  return bucketOf(key, b, Math.round(b.customers.estimate()), (p) => Math.round(b.values.quantile(p / 100)));
}

export function exactBucket(key: Bucket['key'], b: SalesAggregate): Bucket {
  return sortedBucket(key, b, b.exact.customers().length, b.exact.values());
}

/** A group's sums: its orders (each once), their units, the lines' revenue, and the orders' totals. */
export type GroupSums = Pick<SalesAggregate, 'orders' | 'units' | 'revenue' | 'orderValue'>;

/** An exact bucket from its sums, its distinct customers and its order values sorted ascending. */
export function sortedBucket(
  key: Bucket['key'],
  sums: GroupSums,
  uniqueCustomers: number,
  sortedValues: ArrayLike<number>,
): Bucket {
  return bucketOf(key, sums, uniqueCustomers, (p) => nearestRank(sortedValues, p));
}

/** The order-value percentiles a bucket reports. */
export const BUCKET_PERCENTILES = [50, 95, 99] as const;

/**
 * An exact bucket from its sums, its distinct customers and its order values in any order: only the
 * percentiles' ranks are put in place (a selection, `values` reordered), not the whole run sorted.
 */
export function rankedBucket(
  key: Bucket['key'],
  sums: GroupSums,
  uniqueCustomers: number,
  values: Float64Array,
): Bucket {
  placeNearestRanks(values, BUCKET_PERCENTILES);
  return sortedBucket(key, sums, uniqueCustomers, values); // nearestRank reads only those ranks
}

/** A bucket's fields in the contract's order, from its sums, its distinct customers and a percentile. */
export function bucketOf(
  key: Bucket['key'],
  b: GroupSums,
  uniqueCustomers: number,
  percentile: (p: number) => number | null,
): Bucket {
  return {
    key,
    orders: b.orders,
    units: b.units,
    revenue_cents: b.revenue,
    unique_customers: uniqueCustomers,
    avg_order_value_cents: avg(b.orderValue, b.orders),
    p50_order_value_cents: percentile(BUCKET_PERCENTILES[0]),
    p95_order_value_cents: percentile(BUCKET_PERCENTILES[1]),
    p99_order_value_cents: percentile(BUCKET_PERCENTILES[2]),
  };
}
