/**
 * Sales by product (or by any key a product maps to: categories, src/sales/category-scan.ts) from every
 * line of the range: the columnar line blocks of its clean whole days (src/storage/line-blocks.ts) and the
 * rest from the tables, each order's lines together, accumulated into typed arrays, not objects, in two
 * passes (sums, then each counted order's customer and total). Exact by construction, so both precisions
 * use it for any ranking.
 */
import { type Bucket, DAY, type SalesRequest } from '../domain/sales.js';
import { mergeSortedInto, mergeSortedRuns } from '../sketches/sorted-runs.js';
import { decodeLineBlock, type LineBlock, statusCodes } from '../storage/line-blocks.js';
import { countOrdersInRange, newestOrderPk } from '../storage/order-counts.js';
import { journalBlocks, journalStartFor } from '../storage/order-journal.js';
import { lineBlocksOfDaySql, productScanSql } from '../storage/sales-sql.js';
import type { Db } from '../storage/sqlite.js';
import { youngGarbageCollector } from '../worker/young-garbage.js';
import { rankedBucket, type SalesAnswer, sortedBucket } from './buckets.js';
import { Column, distinctSorted } from './columns.js';
import { DistinctIds } from './order-statistics.js';

/**
 * Rankings of more products than this are read in parts on the idle workers; smaller ones by one worker,
 * whose second pass keeps only the top products' orders.
 */
export const PRODUCT_SCAN_MIN_TOP = 1000;

/**
 * A range holding at least this share of the shard's orders is read in storage order (a sequential walk
 * of both tables); a narrower one through the date index (only its orders, in date order).
 */
const FULL_WALK_SHARE = 0.25;

/** Product ids up to this are looked up in an array (4 MiB at most) instead of a Map: ~13% of a part's time. */
const DIRECT_SLOT_MAX_ID = 1 << 20;

/**
 * One part's every product, exact and mergeable with the other parts' (parts split the range by day, so an
 * order and its lines belong to one part): per product its sums, and per
 * (product, order) the order's customer and total, grouped by product (`offsets[p]` to `offsets[p + 1]`,
 * each run sorted; empty for a product outside a selected top).
 */
export interface ProductPart {
  ids: Float64Array;
  revenue: Float64Array;
  units: Float64Array;
  orders: Int32Array;
  offsets: Int32Array;
  customers: Int32Array;
  values: Float64Array;
  /** each product's customers and values sorted (parts to merge); a part read alone leaves them as read */
  runsSorted: boolean;
  rows: number;
  sources: PartSources;
}

type Walk = 'storage-order' | 'date-index';

/** The buffers a part is made of, to transfer it between threads instead of copying it. */
export function productPartBuffers(part: ProductPart): ArrayBuffer[] {
  return [part.ids, part.revenue, part.units, part.orders, part.offsets, part.customers, part.values].map(
    (a) => a.buffer as ArrayBuffer,
  );
}

/** What lines are accumulated under instead of their product id (a category's number, say). */
export type ProductKeys = (productId: number) => number;

/** Where a part's lines came from: day blocks, journal blocks, and orders read through SQL (how). */
export interface PartSources {
  /** the table of the day blocks read (default order_line_blocks, SQLite's) */
  blockTable?: string;
  blockDays: number;
  journalBlocks: number;
  scans: Walk[];
}

/**
 * Which journalled orders a part reads (by order_pk and created_at): those past the watermark in the range,
 * and those up to it in the ranges the day blocks do not answer (`outside`, sorted, disjoint); of this
 * part's days only.
 */
function journalSelection(
  r: SalesRequest,
  outside: readonly [number, number][],
  folded: number,
  ours: (day: number) => boolean,
): (pk: number, createdAt: number) => boolean {
  const isOutside = (t: number): boolean => {
    let lo = 0;
    let hi = outside.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const [start, end] = outside[mid]!;
      if (t < start) hi = mid - 1;
      else if (t >= end) lo = mid + 1;
      else return true;
    }
    return false;
  };
  return (pk, t) => ours(Math.floor(t / DAY)) && (pk >= folded ? t >= r.start && t < r.end : isOutside(t));
}

/**
 * Accumulates order lines per product into typed arrays, in two passes over the same lines (an order's
 * lines together): the first sums per product (revenue, units, orders: an order counts once per product)
 * and so sizes each product's share; the second writes each counted order's customer and total straight
 * into its product's share, for every product or only the ones selected (a ranking's top). No per-line
 * column is kept between the passes: 12 bytes per (product, order) in the end, allocated once.
 */
export class ProductAccumulator {
  private readonly byId: Int32Array | null;
  private readonly slot = new Map<number, number>();
  private readonly id = new Column(new Float64Array(1024), (n) => new Float64Array(n));
  private readonly revenue = new Column(new Float64Array(1024), (n) => new Float64Array(n));
  private readonly units = new Column(new Float64Array(1024), (n) => new Float64Array(n));
  private readonly orders = new Column(new Int32Array(1024), (n) => new Int32Array(n));
  private readonly lastOrder = new Column(new Float64Array(1024), (n) => new Float64Array(n));
  /** second pass: where each product's share starts, where it is filled to, and the shares */
  private offsets = new Int32Array(1);
  private fill = new Int32Array(0);
  private customers = new Int32Array(0);
  private values = new Float64Array(0);
  private pass: 1 | 2 = 1;
  private kept: KeptPairs | null = null;
  rows = 0;

  /**
   * key -> dense index: an array indexed by key where keys are small, a Map otherwise. The key is the
   * product id, or what `keyOf` maps it to (a category's number) with `maxId` the largest key.
   */
  constructor(
    private readonly maxId: number,
    private readonly keyOf: ProductKeys | null = null,
  ) {
    this.byId = maxId <= DIRECT_SLOT_MAX_ID ? new Int32Array(maxId + 1).fill(-1) : null;
  }

  line(
    orderPk: number,
    customerPk: number,
    orderTotal: number,
    product: number,
    quantity: number,
    unitPrice: number,
  ): void {
    const productId = this.keyOf ? this.keyOf(product) : product;
    const direct = this.byId && productId >= 0 && productId <= this.maxId;
    let p = direct ? this.byId![productId]! : (this.slot.get(productId) ?? -1);
    if (this.pass === 2) {
      // the same lines again: write the order into its product's share, once per product
      if (this.lastOrder.data[p] === orderPk || this.fill[p] === this.offsets[p + 1]) return;
      this.lastOrder.data[p] = orderPk;
      const at = this.fill[p]!++;
      this.customers[at] = customerPk;
      this.values[at] = orderTotal;
      return;
    }
    this.rows++;
    if (p === -1) {
      p = this.id.length;
      if (direct) this.byId![productId] = p;
      else this.slot.set(productId, p);
      this.id.push(productId);
      this.revenue.push(0);
      this.units.push(0);
      this.orders.push(0);
      this.lastOrder.push(-1);
    }
    this.revenue.data[p]! += quantity * unitPrice;
    this.units.data[p]! += quantity;
    if (this.lastOrder.data[p] !== orderPk) {
      this.lastOrder.data[p] = orderPk;
      this.orders.data[p]!++;
      this.kept?.push(p, customerPk, orderTotal);
    }
  }

  /**
   * From now on in the first pass, each counted (product, order) is also kept (the lines read from the
   * tables, which the second pass does not read again): 16 bytes a pair instead of a second query.
   */
  keepPairs(): void {
    this.kept = new KeptPairs();
  }

  /**
   * A decoded block's lines of the orders whose status code is marked in `wanted` (and, given `keep`, that
   * it keeps: by the order's index in the block), in either pass (a block holds no order twice).
   */
  block(b: LineBlock, wanted: Uint8Array, keep?: (order: number) => boolean): void {
    for (let o = 0, from = 0; o < b.orders; o++) {
      const to = b.lineEnd[o]!;
      if (wanted[b.status[o]!] === 1 && (keep === undefined || keep(o))) {
        const pk = b.orderPk[o]!;
        const customer = b.customerPk[o]!;
        const total = b.total[o]!;
        for (let i = from; i < to; i++)
          this.line(pk, customer, total, b.productId[i]!, b.quantity[i]!, b.unitPrice[i]!);
      }
      from = to;
    }
  }

  /**
   * Ends the first pass: every product's share sized by its orders, or only the `top` highest revenues'
   * (the rest get none). The same lines are to be read again.
   */
  startSecondPass(top = Number.POSITIVE_INFINITY): void {
    const products = this.id.length;
    const selected =
      top >= products
        ? null
        : new Set(
            topByRevenue(this.id.data.subarray(0, products), this.revenue.data.subarray(0, products), top),
          );
    this.offsets = new Int32Array(products + 1);
    for (let p = 0; p < products; p++)
      this.offsets[p + 1] =
        this.offsets[p]! + (selected === null || selected.has(p) ? this.orders.data[p]! : 0);
    this.fill = this.offsets.slice(0, products);
    this.customers = new Int32Array(this.offsets[products]!);
    this.values = new Float64Array(this.offsets[products]!);
    this.lastOrder.data.fill(-1);
    this.pass = 2;
    // the kept pairs go straight into their products' shares
    const kept = this.kept;
    if (kept)
      for (let i = 0; i < kept.length; i++) {
        const p = kept.product.data[i]!;
        if (this.fill[p] === this.offsets[p + 1]) continue;
        const at = this.fill[p]!++;
        this.customers[at] = kept.customer.data[i]!;
        this.values[at] = kept.value.data[i]!;
      }
    this.kept = null;
  }

  /**
   * The sums of every product and the shares written: the part. A part to merge with others has each
   * share's runs sorted, so the merge only merges sorted runs; a part read alone is counted and ranked
   * as it is (`mergedProducts`: marks and selection, linear, where sorts took a year by category 330 ms).
   */
  finish(sources: PartSources, sortRuns: boolean): ProductPart {
    const products = this.id.length;
    // sorted here, in the part's own worker
    for (let p = 0; sortRuns && p < products; p++) {
      this.customers.subarray(this.offsets[p]!, this.offsets[p + 1]!).sort();
      this.values.subarray(this.offsets[p]!, this.offsets[p + 1]!).sort();
    }
    return {
      runsSorted: sortRuns,
      ids: this.id.data.slice(0, products),
      revenue: this.revenue.data.slice(0, products),
      units: this.units.data.slice(0, products),
      orders: this.orders.data.slice(0, products),
      offsets: this.offsets,
      customers: this.customers,
      values: this.values,
      rows: this.rows,
      sources,
    };
  }
}

/**
 * Part `index` of `count` of the range's order lines, accumulated per product, read in one snapshot. Parts
 * split the range by UTC day (the days whose number is `index` modulo `count`), so an order belongs to
 * exactly one part whatever each part's snapshot holds (parts read at slightly different moments: a
 * catch-up may fold orders into the blocks between them). Within its days a part reads the clean whole
 * days' line blocks and, from the tables, what they do not hold: the days around whole days, days with a
 * dirty hour, and orders past the rollup watermark (not folded in yet).
 */
export function scanProductPart(
  db: Db,
  r: SalesRequest,
  index = 0,
  count = 1,
  options: { keys?: { of: ProductKeys; max: number }; top?: number } = {},
): ProductPart {
  return db.transaction(() => {
    const { keys } = options;
    const maxId =
      keys?.max ??
      (db.prepare('SELECT max(product_id) AS m FROM products').get() as { m: number | null }).m ??
      0;
    const acc = new ProductAccumulator(maxId, keys?.of ?? null);
    // source=orders: every line from the tables (the independent check of what the blocks hold)
    const plan =
      r.source === 'orders'
        ? {
            blockDays: [],
            outside: [[r.start, r.end]] as [number, number][],
            watermark: Number.MAX_SAFE_INTEGER - 1,
          }
        : blockPlan(db, r);
    const wanted = statusCodes(r.statuses);
    const blocks = db.prepare(lineBlocksOfDaySql).pluck();
    // each block arrives as a fresh Buffer, dead once decoded and accumulated: collected as it goes
    const dropped = youngGarbageCollector();
    // this part's days: those whose UTC day number is `index` modulo `count`, from the blocks and the tables
    const ours = (day: number) => day % count === index;
    const readBlocks = (): number => {
      let days = 0;
      for (const day of plan.blockDays) {
        if (!ours(day)) continue;
        let found = 0;
        for (const block of blocks.iterate(day) as IterableIterator<Uint8Array>) {
          found = 1;
          acc.block(decodeLineBlock(block), wanted);
          dropped(block.byteLength);
        }
        days += found; // a clean day without a block has no order up to the watermark
      }
      return days;
    };
    const folded = plan.watermark + 1; // orders up to the watermark: those of the days outside the blocks
    // the orders outside the blocks from the journal where it holds them (source=orders: from the tables)
    const journalStart = journalStartFor(db, r.source);
    const journalled = journalSelection(r, plan.outside, folded, ours);
    let journalBlocksRead = 0;
    const newest = newestOrderPk(db);
    const readJournal = () => {
      const from = Math.max(journalStart, plan.outside.length > 0 ? 0 : folded);
      if (from > newest) return; // nothing it holds is wanted
      // every order it takes was created in the range (past the watermark, or in a range outside the
      // day blocks, which lie within it): the blocks of the range's months hold them all
      for (const b of journalBlocks(db, from, r)) {
        journalBlocksRead++;
        acc.block(
          b,
          wanted,
          (o) => b.orderPk[o]! >= journalStart && journalled(b.orderPk[o]!, b.createdAt[o]!),
        );
      }
    };
    const blockDays = readBlocks();
    readJournal();
    // the orders in neither, from the tables, kept as pairs for the second pass
    const scans: Walk[] = [];
    acc.keepPairs();
    const scan = (walk: Walk, pkFrom: number, pkTo: number, start: number, end: number) => {
      pkTo = Math.min(pkTo, journalStart); // order_pks start at 1
      if (pkTo <= Math.max(pkFrom, 1) || end <= start) return;
      scans.push(walk);
      const stmt = db.prepare(productScanSql(r.statuses.length, walk)).raw();
      for (const row of stmt.iterate(
        pkFrom,
        pkTo,
        start,
        end,
        count,
        index,
        ...r.statuses,
      ) as IterableIterator<number[]>)
        acc.line(row[0]!, row[1]!, row[2]!, row[3]!, row[4]!, row[5]!);
    };
    for (const [start, end] of plan.outside) {
      const walkFrom = Math.ceil(newest * FULL_WALK_SHARE);
      const inRange = countOrdersInRange(db, { start, end }, walkFrom); // counted as far as the choice needs
      scan(inRange >= walkFrom ? 'storage-order' : 'date-index', 0, folded, start, end);
    }
    scan('storage-order', folded, newest + 1, r.start, r.end); // past the watermark
    acc.startSecondPass(count === 1 ? options.top : undefined);
    readBlocks();
    const firstPassJournalBlocks = journalBlocksRead;
    readJournal();
    return acc.finish({ blockDays, journalBlocks: firstPassJournalBlocks, scans }, count > 1);
  })();
}

/** (product, order) pairs counted from the tables' lines: the product's index, the customer, the total. */
class KeptPairs {
  readonly product = new Column(new Int32Array(1024), (n) => new Int32Array(n));
  readonly customer = new Column(new Int32Array(1024), (n) => new Int32Array(n));
  readonly value = new Column(new Float64Array(1024), (n) => new Float64Array(n));

  get length(): number {
    return this.product.length;
  }

  push(product: number, customer: number, value: number): void {
    this.product.push(product);
    this.customer.push(customer);
    this.value.push(value);
  }
}

/**
 * Which of the range's days the line blocks answer (whole days none of whose hours is dirty), the time
 * ranges whose orders are read from the tables instead (up to the watermark), and the watermark.
 */
function blockPlan(
  db: Db,
  r: SalesRequest,
): { blockDays: number[]; outside: [number, number][]; watermark: number } {
  const watermark = (
    db.prepare('SELECT order_pk AS pk FROM rollup_watermark WHERE id = 1').get() as { pk: number }
  ).pk;
  const firstDay = Math.ceil(r.start / DAY);
  const endDay = Math.floor(r.end / DAY);
  const dirty = new Set(
    (
      db
        .prepare('SELECT DISTINCT hour / 24 AS day FROM rollup_dirty_hours WHERE hour >= ? AND hour < ?')
        .all(firstDay * 24, endDay * 24) as { day: number }[]
    ).map((d) => d.day),
  );
  const blockDays: number[] = [];
  const outside: [number, number][] = [];
  const readOrders = (start: number, end: number) => {
    if (end <= start) return;
    const last = outside[outside.length - 1];
    if (last && last[1] === start) last[1] = end;
    else outside.push([start, end]);
  };
  if (endDay <= firstDay) readOrders(r.start, r.end);
  else {
    readOrders(r.start, firstDay * DAY);
    for (let day = firstDay; day < endDay; day++)
      if (dirty.has(day)) readOrders(day * DAY, (day + 1) * DAY);
      else blockDays.push(day);
    readOrders(endDay * DAY, r.end);
  }
  return { blockDays, outside, watermark };
}

/**
 * The parts merged: every product's sums added up, ranked by revenue (then product id), and for the first
 * `top` their customers counted once across parts and the percentiles taken over every part's orders.
 */
export function mergeProductParts(parts: readonly ProductPart[], top: number): SalesAnswer {
  const merged = mergedProducts(parts, top);
  return { data: [...merged.buckets()], rows: merged.rows, method: merged.method };
}

/**
 * The parts merged and ranked, the buckets made one at a time as they are taken: an Arrow stream of every
 * product holds one record batch's buckets at once instead of the whole answer as objects.
 */
export function mergedProducts(
  parts: readonly ProductPart[],
  top: number,
): { rows: number; method: string; buckets: () => Generator<Bucket> } {
  // product id -> union index: an array where ids are small, a Map otherwise; and per part, the union
  // index -> the part's own index (-1 where the part has no line of the product)
  let maxId = 0;
  for (const part of parts) for (const id of part.ids) if (id > maxId) maxId = id;
  const byId = maxId <= DIRECT_SLOT_MAX_ID ? new Int32Array(maxId + 1).fill(-1) : null;
  const slot = new Map<number, number>();
  const capacity = parts.reduce((n, part) => n + part.ids.length, 0);
  const ids = new Float64Array(capacity);
  const revenue = new Float64Array(capacity);
  const units = new Float64Array(capacity);
  const orders = new Float64Array(capacity);
  const inPart = parts.map(() => new Int32Array(capacity).fill(-1));
  let products = 0;
  parts.forEach((part, k) => {
    for (let p = 0; p < part.ids.length; p++) {
      const key = part.ids[p]!;
      let m = byId ? byId[key]! : (slot.get(key) ?? -1);
      if (m === -1) {
        m = products++;
        if (byId) byId[key] = m;
        else slot.set(key, m);
        ids[m] = key;
      }
      revenue[m]! += part.revenue[p]!;
      units[m]! += part.units[p]!;
      orders[m]! += part.orders[p]!;
      inPart[k]![m] = p;
    }
  });
  const ranked = topByRevenue(ids.subarray(0, products), revenue.subarray(0, products), top);
  // one product's customers and order values at a time: its parts' sorted runs merged into views of
  // scratch arrays sized for the largest (a product in one part only is read in place)
  let largest = 0;
  for (const m of ranked) largest = Math.max(largest, orders[m]!);
  const customerScratch = new Int32Array(largest);
  const valueScratch = new Float64Array(largest);
  function* buckets(): Generator<Bucket> {
    for (const m of ranked) yield bucketOf(m);
  }
  // a part read alone: its runs as read, counted with marks and their percentiles selected
  const alone = parts.length === 1 && !parts[0]!.runsSorted ? parts[0]! : null;
  const distinct = alone ? new DistinctIds(maxOf(alone.customers)) : null;
  const bucketOf = (m: number): Bucket => {
    if (alone) {
      const p = inPart[0]![m]!;
      const from = alone.offsets[p]!;
      const values = alone.values.subarray(from, alone.offsets[p + 1]!);
      let orderValue = 0;
      for (let i = 0; i < values.length; i++) orderValue += values[i]!;
      const sums = { orders: orders[m]!, units: units[m]!, revenue: revenue[m]!, orderValue };
      const customers = alone.customers.subarray(from, alone.offsets[p + 1]!);
      return rankedBucket(ids[m]!, sums, distinct!.count(customers), values);
    }
    const n = orders[m]!;
    const customerRuns: Int32Array[] = [];
    const valueRuns: Float64Array[] = [];
    for (let k = 0; k < parts.length; k++) {
      const p = inPart[k]![m]!;
      if (p === -1) continue;
      const part = parts[k]!;
      customerRuns.push(part.customers.subarray(part.offsets[p]!, part.offsets[p + 1]!));
      valueRuns.push(part.values.subarray(part.offsets[p]!, part.offsets[p + 1]!));
    }
    const customers = sortedUnion(customerRuns, customerScratch);
    const values = sortedUnion(valueRuns, valueScratch);
    let orderValue = 0;
    for (let i = 0; i < n; i++) orderValue += values[i]!;
    const sums = { orders: n, units: units[m]!, revenue: revenue[m]!, orderValue };
    return sortedBucket(ids[m]!, sums, distinctSorted(customers), values);
  };
  return {
    rows: parts.reduce((n, part) => n + part.rows, 0),
    method: `exact: one pass over the range's order lines (${linesRead(parts)}), every product accumulated in typed arrays, then ranked`,
    buckets,
  };
}

/** Where parts read their lines, for `meta.method`: block days, tables (how), parts in parallel. */
export function linesRead(parts: readonly ProductPart[]): string {
  const blockDays = parts.reduce((n, part) => n + part.sources.blockDays, 0);
  const scans = [...new Set(parts.flatMap((part) => part.sources.scans))].map((walk) =>
    walk === 'storage-order' ? 'in storage order' : 'through the date index',
  );
  const journalRead = parts.reduce((n, part) => n + part.sources.journalBlocks, 0);
  const read = [
    ...(blockDays > 0 ? [`${parts[0]!.sources.blockTable ?? 'order_line_blocks'} of ${blockDays} days`] : []),
    ...(journalRead > 0 ? [`${journalRead} order_journal blocks`] : []),
    ...(scans.length > 0 ? [`orders and their lines (${scans.join(' and ')})`] : []),
  ];
  return `${read.join(' + ') || 'none in the range'}${parts.length > 1 ? `; in ${parts.length} parts read in parallel` : ''}`;
}

/**
 * Sorted runs as one sorted array: the run itself when there is one, merged into `scratch` when two, merged
 * pairwise (allocating) when more.
 */
function sortedUnion<T extends Int32Array | Float64Array>(runs: T[], scratch: T): T {
  if (runs.length === 1) return runs[0]!;
  if (runs.length === 2) return mergeSortedInto(runs[0]!, runs[1]!, scratch);
  return mergeSortedRuns(runs) ?? (scratch.subarray(0, 0) as T);
}

/**
 * The indices of the `top` highest revenues, highest first, ties to the lower id. A few of many are picked
 * by the revenue the `top`-th reaches (one numeric sort of the revenues), then only those are ordered.
 */
function topByRevenue(ids: Float64Array, revenue: Float64Array, top: number): number[] {
  const n = ids.length;
  let candidates: number[];
  if (top >= n) candidates = Array.from({ length: n }, (_, m) => m);
  else {
    const threshold = Float64Array.from(revenue).sort()[n - top]!;
    candidates = [];
    for (let m = 0; m < n; m++) if (revenue[m]! >= threshold) candidates.push(m);
  }
  return candidates.sort((a, b) => revenue[b]! - revenue[a]! || ids[a]! - ids[b]!).slice(0, top);
}

/**
 * Every product's exact sales in the range, ranked, the first `top`, read in one part (whose second pass
 * keeps the orders of the top products only).
 */
export function productsByScan(db: Db, r: SalesRequest): SalesAnswer {
  return mergeProductParts([scanProductPart(db, r, 0, 1, { top: r.top })], r.top);
}

/** The largest of `ids` (0 for none). */
function maxOf(ids: Int32Array): number {
  let max = 0;
  for (let i = 0; i < ids.length; i++) if (ids[i]! > max) max = ids[i]!;
  return max;
}
