/**
 * Exact sales from the orders themselves, for what the pre-aggregates cannot answer exactly (ranges not in
 * whole hours, `source=orders`): one ordered scan, groups accumulated one at a time.
 */
import { type Bucket, isTimeGroup, type SalesRequest, type TimeGroup, timeBucket } from '../domain/sales.js';
import { countOrdersInRange } from '../storage/order-counts.js';
import { exactProductScanSql, exactTimeScanSql, PRODUCT_SORT_MAX_ORDERS } from '../storage/sales-sql.js';
import type { Db } from '../storage/sqlite.js';

import { type SalesAnswer, sortedBucket } from './buckets.js';
import { categoriesByLines } from './category-scan.js';
import { exactTimeByWalk, walksOrders } from './time-walk.js';

/** An order item line with what its order brings: what the product and category paths read. */
export interface ItemLine {
  order_pk: number;
  customer_pk: number;
  total_cents: number;
  quantity: number;
  unit_price_cents: number;
}

/** Accumulates one group at a time from rows sorted by group: exact distinct orders and customers. */
export class GroupAccumulator {
  private key: string | number | null = null;
  /** the group's orders seen, where rows are lines (an order counts once per group) */
  private orders = new Set<number>();
  private orderCount = 0;
  private customers = new Set<number>();
  private values: number[] = [];
  private units = 0;
  private revenue = 0;
  private orderValue = 0;
  readonly out: Bucket[] = [];

  add(
    key: string | number,
    orderPk: number,
    customerPk: number,
    orderTotal: number,
    units: number,
    revenue: number,
  ): void {
    if (key !== this.key) {
      this.close();
      this.key = key;
    }
    this.units += units;
    this.revenue += revenue;
    if (!this.orders.has(orderPk)) {
      this.orders.add(orderPk);
      this.countOrder(orderTotal);
    }
    this.customers.add(customerPk);
  }

  /** One whole order (rows that are orders, not lines: no order repeats, so none is looked up). */
  addOrder(key: string | number, customerPk: number, orderTotal: number, units: number): void {
    if (key !== this.key) {
      this.close();
      this.key = key;
    }
    this.units += units;
    this.revenue += orderTotal;
    this.countOrder(orderTotal);
    this.customers.add(customerPk);
  }

  private countOrder(orderTotal: number): void {
    this.orderCount++;
    this.values.push(orderTotal);
    this.orderValue += orderTotal;
  }

  /** An order line counted for a group: its units and revenue, its order once. */
  addLine(key: string | number, line: ItemLine): void {
    this.add(
      key,
      line.order_pk,
      line.customer_pk,
      line.total_cents,
      line.quantity,
      line.quantity * line.unit_price_cents,
    );
  }

  close(): void {
    if (this.key === null) return;
    const sums = {
      orders: this.orderCount,
      units: this.units,
      revenue: this.revenue,
      orderValue: this.orderValue,
    };
    this.out.push(sortedBucket(this.key, sums, this.customers.size, Float64Array.from(this.values).sort()));
    this.key = null;
    this.orders = new Set();
    this.orderCount = 0;
    this.customers = new Set();
    this.values = [];
    this.units = 0;
    this.revenue = 0;
    this.orderValue = 0;
  }
}

/** A row of the time scan, raw: created_at, customer_pk, total_cents, units (null: no items). */
export type TimeRow = [createdAt: number, customerPk: number, totalCents: number, units: number | null];

/**
 * Orders in time order into their buckets of `g`; how many were read. A bucket's key is computed when an
 * order falls outside the current bucket's span, not per order (a million keys formatted took ~1 s).
 */
export function addTimeRows(acc: GroupAccumulator, g: TimeGroup, rows: Iterable<TimeRow>): number {
  let n = 0;
  let bucket = { key: '', start: 0, end: 0 };
  for (const [createdAt, customerPk, totalCents, units] of rows) {
    n++;
    if (createdAt < bucket.start || createdAt >= bucket.end) bucket = timeBucket(g, createdAt);
    acc.addOrder(bucket.key, customerPk, totalCents, units ?? 0);
  }
  return n;
}

/** Order lines sorted by their group key into the groups; how many were read. */
export function addGroupRows(
  acc: GroupAccumulator,
  rows: Iterable<ItemLine & { k: string | number }>,
): number {
  let n = 0;
  for (const row of rows) {
    n++;
    acc.addLine(row.k, row);
  }
  return n;
}

/** The groups once every row is in: by product, ranked by revenue (ties to the lower id) and cut at `top`. */
export function finishGroups(acc: GroupAccumulator, r: SalesRequest): Bucket[] {
  acc.close();
  if (r.groupBy !== 'product') return acc.out;
  return acc.out
    .sort((a, b) => b.revenue_cents - a.revenue_cents || Number(a.key) - Number(b.key))
    .slice(0, r.top);
}

/** By time through the date index: orders in time order, one bucket's sets at a time. */
export function exactTimeByScan(db: Db, r: SalesRequest & { groupBy: TimeGroup }): SalesAnswer {
  const acc = new GroupAccumulator();
  const stmt = db.prepare(exactTimeScanSql(r.statuses.length));
  const rows = addTimeRows(
    acc,
    r.groupBy,
    stmt.raw().iterate(r.start, r.end, ...r.statuses) as IterableIterator<TimeRow>,
  );
  return {
    data: finishGroups(acc, r),
    rows,
    method: 'exact: ordered scan of orders (keyset index), per-bucket exact sets and sorted values',
  };
}

/**
 * Any grouping read from the orders themselves: exact distinct sets and sorted values per group. By time,
 * a range holding a large share of the shard walks the orders in storage order (src/sales/time-walk.ts).
 */
export function exactFromOrders(db: Db, r: SalesRequest, ordersInRange?: number): SalesAnswer {
  if (isTimeGroup(r.groupBy)) {
    const timed = r as SalesRequest & { groupBy: TimeGroup };
    return walksOrders(db, timed, ordersInRange) ? exactTimeByWalk(db, timed) : exactTimeByScan(db, timed);
  }
  if (r.groupBy === 'category') return categoriesByLines(db, r);
  // by product (source=orders): the items through the product index, or a short range's sorted
  const inRange = ordersInRange ?? countOrdersInRange(db, r);
  const stmt = db.prepare(exactProductScanSql(r.statuses.length, inRange <= PRODUCT_SORT_MAX_ORDERS));
  const acc = new GroupAccumulator();
  const rows = addGroupRows(
    acc,
    stmt.iterate(r.start, r.end, ...r.statuses) as IterableIterator<ItemLine & { k: string | number }>,
  );
  return {
    data: finishGroups(acc, r),
    rows,
    method: `exact: scan of order items joined to orders, grouped by ${r.groupBy}, exact sets and sorted values`,
  };
}
