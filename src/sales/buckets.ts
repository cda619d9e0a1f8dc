/** A sales answer's buckets: the contract's fields from a group's sums, distinct customers and order values. */
import { avg, type Bucket, nearestRank } from '../domain/sales.js';
import type { SalesAggregate } from '../sketches/sales-aggregate.js';

/** Buckets, how many rows were read for them, and which path read them. */
export type SalesAnswer = { data: Bucket[]; rows: number; method: string };

export function approxBucket(key: Bucket['key'], b: SalesAggregate): Bucket {
  return bucket(key, b, Math.round(b.customers.estimate()), (p) => Math.round(b.values.quantile(p / 100)));
}

export function exactBucket(key: Bucket['key'], b: SalesAggregate): Bucket {
  const values = b.exact.values();
  return bucket(key, b, b.exact.customers().length, (p) => nearestRank(values, p));
}

/** A bucket's fields in the contract's order, from its sums, its distinct customers and a percentile. */
function bucket(
  key: Bucket['key'],
  b: SalesAggregate,
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
    p50_order_value_cents: percentile(50),
    p95_order_value_cents: percentile(95),
    p99_order_value_cents: percentile(99),
  };
}
