/**
 * Exact sales by time from one walk of the orders in storage order, for a range holding a large share of
 * the shard: the ordered scan reads the range through the date index, and since orders are stored in the
 * order they arrived (a backfill: random dates), each of its orders is a random lookup of the order and of
 * its items. The walk reads both tables sequentially (order_items is clustered by order_pk) and puts each
 * order in its bucket: measured in the sqlite3 shell on 1M orders, a year of sales 0.65 s walked against
 * 4.1 s through the index. Every bucket is open at once, so what they hold is kept in typed arrays (16 bytes
 * per order, grouped by bucket with a counting sort once the bucket is complete; each bucket's distinct
 * customers counted with marks and its percentiles selected, src/sales/order-statistics.ts), not sets: the
 * walk is used up to TIME_WALK_MAX_ORDERS. The orders the order journal holds (src/storage/order-journal.ts:
 * every order of a shard created since migration 020) are read from its columnar blocks instead, in the
 * same snapshot: no row handed to JavaScript, only the blocks of the range's months and only their order
 * columns; a year of 1M orders in ~0.08 s instead of 1.55 s, a month by hour in 6-10 ms (warm).
 */
import { firstDayOfMonth } from '../domain/months.js';
import { type Bucket, DAY, HOUR, type SalesRequest, type TimeGroup, timeBucket } from '../domain/sales.js';
import { statusCodes } from '../storage/line-blocks.js';
import { countOrdersInRange, newestOrderPk } from '../storage/order-counts.js';
import {
  type JournalOrders,
  journalHoldsEveryOrder,
  journalOrderColumns,
  journalStartFor,
} from '../storage/order-journal.js';
import { exactTimeScanSql } from '../storage/sales-sql.js';
import type { Db } from '../storage/sqlite.js';
import { rankedBucket, type SalesAnswer } from './buckets.js';
import { DistinctIds } from './order-statistics.js';

/** The walk reads every order of the shard: worth it once the range holds this share of them. */
export const TIME_WALK_MIN_SHARE = 1 / 8;

/**
 * The same where the order journal holds every order: the walk then reads and decodes blocks at
 * ~0.05-0.08 µs per order, the ordered scan ~5.3 µs per order of its range (a random lookup of each and its
 * items): measured on 1M orders when every block held every month, a walk 50-79 ms whatever the range, the
 * scan 24 ms for 4k orders, 95 for 18k, 174 for 35k, 399 for 74k: they cross near 1% of the shard. Blocks
 * now hold one month each and a walk reads its range's months only, so the bound errs towards the scan.
 */
export const JOURNAL_WALK_MIN_SHARE = 1 / 80;

/** Orders in the range the walk takes at most (~64 MB of typed arrays); past it, the ordered scan. */
export const TIME_WALK_MAX_ORDERS = 4_000_000;

/** The share of the shard from which a range by time is walked. */
function walkMinShare(db: Db, r: SalesRequest): number {
  return r.source !== 'orders' && journalHoldsEveryOrder(db) ? JOURNAL_WALK_MIN_SHARE : TIME_WALK_MIN_SHARE;
}

/**
 * How many of a range's orders `walksOrders` needs counted at most: past the larger of its two bounds
 * (the share of the shard, and the memory bound where the shard is larger than it) the choice is made.
 */
export function ordersEnoughToWalk(db: Db, r: SalesRequest): number {
  const newest = newestOrderPk(db);
  const share = Math.max(1, Math.ceil(newest * walkMinShare(db, r)));
  return newest > TIME_WALK_MAX_ORDERS ? Math.max(share, TIME_WALK_MAX_ORDERS + 1) : share;
}

/**
 * Whether a range by time is read by the walk: a large share of the shard, within the memory bound.
 * `inRange` is the range's order count (exact, or stopped at `ordersEnoughToWalk` or later) when the
 * caller has it already.
 */
export function walksOrders(
  db: Db,
  r: SalesRequest,
  inRange = countOrdersInRange(db, r, ordersEnoughToWalk(db, r)),
): boolean {
  const newest = newestOrderPk(db);
  return inRange <= TIME_WALK_MAX_ORDERS && inRange >= newest * walkMinShare(db, r) && inRange > 0;
}

/** The buckets of `g` covering [start, end), in order. */
function bucketSpans(
  g: TimeGroup,
  start: number,
  end: number,
): { key: string; start: number; end: number }[] {
  const spans = [];
  for (let at = start; at < end; ) {
    const b = timeBucket(g, at);
    spans.push(b);
    at = b.end;
  }
  return spans;
}

/** A fixed bucket length in ms (hour, day, week), or 0 for months (found by a binary search). */
function fixedBucketMs(g: TimeGroup): number {
  return g === 'hour' ? HOUR : g === 'day' ? DAY : g === 'week' ? 7 * DAY : 0;
}

/**
 * What the walk keeps while it goes: per bucket the orders, units and revenue, and per order its bucket,
 * customer and value (16 bytes, in typed arrays grown ahead of each block, so the hot loop neither checks
 * capacity per order nor calls out). A bucket is answered as soon as no order can still come for it
 * (`settle`): the journal's month blocks come in month order, so once the walk reaches a month every
 * bucket ending before it is complete, its pairs are taken out and the others moved down. The arrays so
 * hold about a month of orders, not the range's: a year of 1M orders held 28 MB of pairs and their
 * grouped copies at once, all of it fresh memory, and a page fault costs ~11 µs on this machine
 * (docs/perf.md: about a quarter of a fresh worker's first read of a year).
 */
class WalkAccumulator {
  readonly orders: Int32Array;
  readonly units: Float64Array;
  readonly revenue: Float64Array;
  pairBucket = new Int32Array(1 << 16);
  pairCustomer = new Int32Array(1 << 16);
  pairValue = new Float64Array(1 << 16);
  /** pairs in the arrays (of buckets not answered yet) */
  held = 0;
  maxCustomer = 0;
  /** the answered buckets with orders, in order */
  readonly data: Bucket[] = [];
  /** buckets before it are answered */
  private settled = 0;
  private grouped = { customers: new Int32Array(0), values: new Float64Array(0) };
  private distinct: { ids: DistinctIds; maxId: number } | null = null;
  private readonly first: number;

  constructor(
    private readonly spans: readonly { key: string; start: number; end: number }[],
    private readonly fixed: number,
  ) {
    const n = spans.length;
    this.orders = new Int32Array(n);
    this.units = new Float64Array(n);
    this.revenue = new Float64Array(n);
    this.first = spans[0]!.start;
  }

  private locate(t: number): number {
    if (this.fixed > 0) return Math.floor((t - this.first) / this.fixed);
    const spans = this.spans;
    let lo = 0;
    let hi = spans.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (spans[mid]!.start <= t) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Room for `more` pairs past the held ones. */
  private reserve(more: number): void {
    const need = this.held + more;
    if (need <= this.pairBucket.length) return;
    const size = Math.max(need, 2 * this.pairBucket.length);
    const grow = <T extends Int32Array | Float64Array>(a: T, make: (n: number) => T): T => {
      const bigger = make(size);
      bigger.set(a.subarray(0, this.held));
      return bigger;
    };
    this.pairBucket = grow(this.pairBucket, (k) => new Int32Array(k));
    this.pairCustomer = grow(this.pairCustomer, (k) => new Int32Array(k));
    this.pairValue = grow(this.pairValue, (k) => new Float64Array(k));
  }

  add(createdAt: number, customerPk: number, total: number, orderUnits: number): void {
    this.reserve(1);
    this.put(this.locate(createdAt), customerPk, total, orderUnits);
  }

  private put(b: number, customerPk: number, total: number, orderUnits: number): void {
    const at = this.held++;
    if (customerPk > this.maxCustomer) this.maxCustomer = customerPk;
    this.orders[b]!++;
    this.units[b]! += orderUnits;
    this.revenue[b]! += total;
    this.pairBucket[at] = b;
    this.pairCustomer[at] = customerPk;
    this.pairValue[at] = total;
  }

  /** A block's orders in [start, end) with a wanted status and an order_pk from `fromPk` on. */
  block(j: JournalOrders, start: number, end: number, wanted: Uint8Array, fromPk: number): void {
    const { orders, createdAt, status, units, customerPk, total } = j.columns;
    this.reserve(orders);
    const orderPk = j.orderPk;
    for (let o = 0; o < orders; o++) {
      const t = createdAt[o]!;
      if (t >= start && t < end && wanted[status[o]!] === 1 && (orderPk === null || orderPk[o]! >= fromPk))
        this.put(this.locate(t), customerPk[o]!, total[o]!, units[o]!);
    }
  }

  /** Orders taken in: every bucket's count. */
  get rows(): number {
    let n = 0;
    for (let b = 0; b < this.orders.length; b++) n += this.orders[b]!;
    return n;
  }

  /**
   * Answers the buckets not answered yet that end at or before `before` (every one for Infinity): their
   * pairs grouped by bucket (a counting sort), each bucket's distinct customers counted and percentiles
   * selected; the other buckets' pairs are moved down and kept.
   */
  settle(before: number): void {
    const from = this.settled;
    let to = from;
    while (to < this.spans.length && this.spans[to]!.end <= before) to++;
    if (to === from) return;
    const offsets = new Int32Array(to - from + 1);
    for (let b = from; b < to; b++) offsets[b - from + 1] = offsets[b - from]! + this.orders[b]!;
    const { customers, values } = this.groupedFor(offsets[to - from]!);
    const fill = offsets.slice(0, to - from);
    const { pairBucket, pairCustomer, pairValue } = this;
    let kept = 0;
    for (let i = 0; i < this.held; i++) {
      const b = pairBucket[i]!;
      if (b >= to) {
        pairBucket[kept] = b;
        pairCustomer[kept] = pairCustomer[i]!;
        pairValue[kept++] = pairValue[i]!;
        continue;
      }
      if (b < from)
        throw new Error(`an order of an answered bucket (${b}) came after it: blocks out of month order`);
      const at = fill[b - from]!++;
      customers[at] = pairCustomer[i]!;
      values[at] = pairValue[i]!;
    }
    this.held = kept;
    const distinct = this.distinctIds();
    for (let b = from; b < to; b++) {
      if (this.orders[b] === 0) continue;
      // by time a bucket's lines are whole orders: its revenue is its orders' totals
      const revenue = this.revenue[b]!;
      const sums = { orders: this.orders[b]!, units: this.units[b]!, revenue, orderValue: revenue };
      const [start, end] = [offsets[b - from]!, offsets[b - from + 1]!];
      this.data.push(
        rankedBucket(
          this.spans[b]!.key,
          sums,
          distinct.count(customers.subarray(start, end)),
          values.subarray(start, end),
        ),
      );
    }
    this.settled = to;
  }

  /** Arrays for `pairs` grouped pairs, reused from one settle to the next. */
  private groupedFor(pairs: number): { customers: Int32Array; values: Float64Array } {
    if (this.grouped.customers.length < pairs) {
      const size = Math.max(pairs, 2 * this.grouped.customers.length);
      this.grouped = { customers: new Int32Array(size), values: new Float64Array(size) };
    }
    return this.grouped;
  }

  /** Distinct-customer counting for ids up to the largest seen so far. */
  private distinctIds(): DistinctIds {
    if (this.distinct === null || this.distinct.maxId < this.maxCustomer)
      this.distinct = { ids: new DistinctIds(this.maxCustomer), maxId: this.maxCustomer };
    return this.distinct.ids;
  }
}

/** Exact buckets of the range from one walk of the orders in storage order. */
export function exactTimeByWalk(db: Db, r: SalesRequest & { groupBy: TimeGroup }): SalesAnswer {
  const spans = bucketSpans(r.groupBy, r.start, r.end);
  const acc = new WalkAccumulator(spans, fixedBucketMs(r.groupBy));
  // one snapshot: the orders below the journal's start from the tables, the rest from the journal
  let journalBlocksRead = 0;
  db.transaction(() => {
    const from = journalStartFor(db, r.source);
    const walk = db.prepare(exactTimeScanSql(r.statuses.length, 'storage-order')).raw();
    for (const [createdAt, customerPk, total, lineUnits] of walk.iterate(
      from,
      r.start,
      r.end,
      ...r.statuses,
    ) as IterableIterator<[number, number, number, number | null]>)
      acc.add(createdAt, customerPk, total, lineUnits ?? 0);
    const wanted = statusCodes(r.statuses);
    let month: number | null = null;
    for (const b of from === Number.MAX_SAFE_INTEGER ? [] : journalOrderColumns(db, from, r)) {
      journalBlocksRead++;
      // a month's first block: every bucket ending before the month has all its orders
      if (b.month !== null && b.month !== month) {
        acc.settle(firstDayOfMonth(b.month) * DAY);
        month = b.month;
      }
      acc.block(b, r.start, r.end, wanted, from);
    }
  })();
  acc.settle(Number.POSITIVE_INFINITY);
  const { data, rows } = acc;
  return {
    data,
    rows,
    method: `exact: one walk of the orders in storage order (the range holds a large share of them)${journalBlocksRead > 0 ? `, ${journalBlocksRead} blocks of them from the order journal` : ''}, per-bucket exact sets and sorted values`,
  };
}
