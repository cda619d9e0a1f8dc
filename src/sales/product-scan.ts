/**
 * Sales of many products at once (issue 19: every product, 15–20× DuckDB through per-product reads), from
 * one sequential pass over the order lines: orders in storage order, each order's lines next to it
 * (order_items is clustered by order_pk), accumulated into typed arrays, not objects. Exact by
 * construction, so both precisions use it when an answer ranks many products.
 */
import { avg, type Bucket, nearestRank, type SalesRequest } from '../domain/sales.js';
import { ordersInRangeSql, productScanSql } from '../storage/sales-sql.js';
import type { Db } from '../storage/sqlite.js';
import type { SalesAnswer } from './buckets.js';

/** Answers ranking more products than this read every line of the range once instead of product by product. */
export const PRODUCT_SCAN_MIN_TOP = 1000;

/**
 * A range holding at least this share of the shard's orders is read in storage order (a sequential walk
 * of both tables); a narrower one through the date index (only its orders, in date order).
 */
const FULL_WALK_SHARE = 0.25;

/** Product ids up to this are looked up in an array (4 MiB at most) instead of a Map: ~13% of a part's time. */
const DIRECT_SLOT_MAX_ID = 1 << 20;

/** A growable column of 32-bit integers or doubles. */
class Column<T extends Int32Array | Float64Array> {
  length = 0;
  constructor(
    public data: T,
    private readonly make: (n: number) => T,
  ) {}
  push(x: number): void {
    if (this.length === this.data.length) {
      const bigger = this.make(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = x;
  }
}

/** Counts the distinct values of a sorted run. */
function distinctSorted(sorted: Int32Array): number {
  let n = sorted.length > 0 ? 1 : 0;
  for (let i = 1; i < sorted.length; i++) if (sorted[i] !== sorted[i - 1]) n++;
  return n;
}

/**
 * One part's every product, exact and mergeable with the other parts' (parts split the orders by order_pk,
 * so an order and its lines belong to one part): per product its sums, and per (product, order) the
 * order's customer and total, grouped by product (`offsets[p]` to `offsets[p + 1]`).
 */
export interface ProductPart {
  ids: Float64Array;
  revenue: Float64Array;
  units: Float64Array;
  orders: Int32Array;
  offsets: Int32Array;
  customers: Int32Array;
  values: Float64Array;
  rows: number;
  walk: Walk;
}

type Walk = 'storage-order' | 'date-index';

/** The buffers a part is made of, to transfer it between threads instead of copying it. */
export function productPartBuffers(part: ProductPart): ArrayBuffer[] {
  return [part.ids, part.revenue, part.units, part.orders, part.offsets, part.customers, part.values].map(
    (a) => a.buffer as ArrayBuffer,
  );
}

/**
 * Part `index` of `count` of the range's order lines (orders with order_pk in the part's share of the
 * shard's ids), accumulated per product. Revenue and units are summed per line; an order counts once per
 * product it holds, with its customer and its total.
 */
export function scanProductPart(db: Db, r: SalesRequest, index = 0, count = 1): ProductPart {
  const total = db.prepare('SELECT count(*) AS n, max(order_pk) AS last FROM orders').get() as {
    n: number;
    last: number | null;
  };
  const inRange = (db.prepare(ordersInRangeSql).get(r.start, r.end) as { n: number }).n;
  const walk: Walk = inRange >= total.n * FULL_WALK_SHARE ? 'storage-order' : 'date-index';
  const ids = (total.last ?? 0) + 1;
  const from = Math.floor((ids * index) / count);
  const to = Math.floor((ids * (index + 1)) / count);
  const stmt = db.prepare(productScanSql(r.statuses.length, walk)).raw();

  // product id -> dense index: an array indexed by id where ids are small, a Map otherwise
  const maxId =
    (db.prepare('SELECT max(product_id) AS m FROM products').get() as { m: number | null }).m ?? 0;
  const byId = maxId <= DIRECT_SLOT_MAX_ID ? new Int32Array(maxId + 1).fill(-1) : null;
  const slot = new Map<number, number>();
  const id = new Column(new Float64Array(1024), (n) => new Float64Array(n));
  const revenue = new Column(new Float64Array(1024), (n) => new Float64Array(n));
  const units = new Column(new Float64Array(1024), (n) => new Float64Array(n));
  const orders = new Column(new Int32Array(1024), (n) => new Int32Array(n));
  const lastOrder = new Column(new Float64Array(1024), (n) => new Float64Array(n));
  // one entry per (product, order): which product, the order's customer and total
  const pairProduct = new Column(new Int32Array(1 << 16), (n) => new Int32Array(n));
  const pairCustomer = new Column(new Int32Array(1 << 16), (n) => new Int32Array(n));
  const pairValue = new Column(new Float64Array(1 << 16), (n) => new Float64Array(n));
  let rows = 0;
  for (const row of stmt.iterate(from, to, r.start, r.end, ...r.statuses) as IterableIterator<number[]>) {
    rows++;
    const [orderPk, customerPk, orderTotal, productId, quantity, unitPrice] = row as [
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    let p = byId && productId >= 0 && productId <= maxId ? byId[productId]! : (slot.get(productId) ?? -1);
    if (p === -1) {
      p = id.length;
      if (byId && productId >= 0 && productId <= maxId) byId[productId] = p;
      else slot.set(productId, p);
      id.push(productId);
      revenue.push(0);
      units.push(0);
      orders.push(0);
      lastOrder.push(-1);
    }
    revenue.data[p]! += quantity * unitPrice;
    units.data[p]! += quantity;
    if (lastOrder.data[p] !== orderPk) {
      // an order's lines arrive together, so a product repeats within an order only consecutively
      lastOrder.data[p] = orderPk;
      orders.data[p]!++;
      pairProduct.push(p);
      pairCustomer.push(customerPk);
      pairValue.push(orderTotal);
    }
  }
  // group the pairs by product (a counting sort)
  const products = id.length;
  const offsets = new Int32Array(products + 1);
  for (let p = 0; p < products; p++) offsets[p + 1] = offsets[p]! + orders.data[p]!;
  const fill = offsets.slice(0, products);
  const customers = new Int32Array(pairProduct.length);
  const values = new Float64Array(pairProduct.length);
  for (let i = 0; i < pairProduct.length; i++) {
    const at = fill[pairProduct.data[i]!]!++;
    customers[at] = pairCustomer.data[i]!;
    values[at] = pairValue.data[i]!;
  }
  return {
    ids: id.data.slice(0, products),
    revenue: revenue.data.slice(0, products),
    units: units.data.slice(0, products),
    orders: orders.data.slice(0, products),
    offsets,
    customers,
    values,
    rows,
    walk,
  };
}

/**
 * The parts merged: every product's sums added up, ranked by revenue (then product id), and for the first
 * `top` their customers counted once across parts and the percentiles taken over every part's orders.
 */
export function mergeProductParts(parts: readonly ProductPart[], top: number): SalesAnswer {
  const slot = new Map<number, number>();
  const ids: number[] = [];
  const revenue: number[] = [];
  const units: number[] = [];
  const orders: number[] = [];
  for (const part of parts)
    for (let p = 0; p < part.ids.length; p++) {
      const key = part.ids[p]!;
      let m = slot.get(key);
      if (m === undefined) {
        m = ids.length;
        slot.set(key, m);
        ids.push(key);
        revenue.push(0);
        units.push(0);
        orders.push(0);
      }
      revenue[m]! += part.revenue[p]!;
      units[m]! += part.units[p]!;
      orders[m]! += part.orders[p]!;
    }
  const ranked = ids
    .map((_, m) => m)
    .sort((a, b) => revenue[b]! - revenue[a]! || ids[a]! - ids[b]!)
    .slice(0, top);
  // each part's dense index of a product, to find its pairs
  const partSlots = parts.map((part) => {
    const local = new Map<number, number>();
    for (let p = 0; p < part.ids.length; p++) local.set(part.ids[p]!, p);
    return local;
  });
  const data: Bucket[] = ranked.map((m) => {
    const n = orders[m]!;
    const customers = new Int32Array(n);
    const values = new Float64Array(n);
    let at = 0;
    parts.forEach((part, k) => {
      const p = partSlots[k]!.get(ids[m]!);
      if (p === undefined) return;
      const from = part.offsets[p]!;
      const to = part.offsets[p + 1]!;
      customers.set(part.customers.subarray(from, to), at);
      values.set(part.values.subarray(from, to), at);
      at += to - from;
    });
    values.sort();
    let sum = 0;
    for (let i = 0; i < n; i++) sum += values[i]!;
    return {
      key: ids[m]!,
      orders: n,
      units: units[m]!,
      revenue_cents: revenue[m]!,
      unique_customers: distinctSorted(customers.sort()),
      avg_order_value_cents: avg(sum, n),
      p50_order_value_cents: nearestRank(values, 50),
      p95_order_value_cents: nearestRank(values, 95),
      p99_order_value_cents: nearestRank(values, 99),
    };
  });
  const walk = parts[0]?.walk ?? 'storage-order';
  return {
    data,
    rows: parts.reduce((n, part) => n + part.rows, 0),
    method: `exact: one pass over the range's order lines (${walk === 'storage-order' ? 'orders in storage order' : 'orders through the date index'}, each with its lines${parts.length > 1 ? `, in ${parts.length} parts by order id read in parallel` : ''}), every product accumulated in typed arrays, then ranked`,
  };
}

/** Every product's exact sales in the range, ranked, the first `top`, read in one part. */
export function productsByScan(db: Db, r: SalesRequest): SalesAnswer {
  return mergeProductParts([scanProductPart(db, r)], r.top);
}
