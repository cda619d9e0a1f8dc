/**
 * Order lines accumulated per key (a product, or what a product maps to: a category) into typed arrays, not
 * objects, ending in each key's figures (sums, distinct customers, order-value percentiles). The lines are
 * read once to sum (first pass), which ranks the keys by revenue; then again once per slice of the ranked
 * keys whose (key, order) pairs fit a budget: a slice's pass keeps each counted order's customer and total
 * for the slice's keys only, turns them into those keys' figures, hands them over (in rank order) and
 * drops them. So memory is bounded by the budget and the number of keys, not by the range's orders:
 * 8 bytes a pair within a slice (12 where an order's total does not fit 32 bits), ~60 bytes a key, and a
 * slice's figures at a time.
 */
import { type Bucket, nearestRank } from '../domain/sales.js';
import type { LineBlock } from '../storage/line-blocks.js';
import { BUCKET_PERCENTILES, bucketOf } from './buckets.js';
import { Column } from './columns.js';
import type { KeyHistograms } from './key-histograms.js';
import { DistinctIds, placeNearestRanks } from './order-statistics.js';

/** Keys up to this are looked up in an array (4 MiB at most) instead of a Map: ~13% of a pass's time. */
const DIRECT_SLOT_MAX_ID = 1 << 20;

/**
 * (key, order) pairs one slice's pass keeps at least (8 or 12 bytes each: 4 or 6 MiB), unless one key
 * alone has more: a year of 2M orders with 500,000 products (6M pairs) takes 12 slices, each a pass over
 * the lines that skips the other slices' lines by one byte each.
 */
export const PAIR_BUDGET = 500_000;

/**
 * What a scan's keys and pairs may hold together (~60 bytes a key, 8 or 12 a pair): where keys are few the
 * pair budget grows into what they leave, so fewer slices read the lines again (a year of 1M orders over
 * 50,000 products: 2.7M pairs in 2 slices instead of 6); where they are many it stays at PAIR_BUDGET.
 */
export const SCAN_STATE_BYTES = 16 << 20;
const BYTES_PER_KEY = 60;

/**
 * A pair's bytes: its order's customer (4) and total, 4 where every total the first pass met is a whole
 * number of cents below 2^32 (~$42.9M; any larger, or a negative one, and the totals take 8).
 */
export type PairBytes = 8 | 12;

/** The pairs a slice may hold for a scan of `keys` keys. */
export function pairBudgetFor(keys: number, pairBytes: PairBytes = 12): number {
  return Math.max(PAIR_BUDGET, Math.floor((SCAN_STATE_BYTES - BYTES_PER_KEY * keys) / pairBytes));
}

/** What lines are accumulated under instead of their product id (a category's number, say). */
export type ProductKeys = (productId: number) => number;

/** Where a ranking's lines came from: day blocks, journal blocks, orders read through SQL (how), passes made. */
export interface ScanSources {
  /** the table of the day blocks read (default order_line_blocks, SQLite's) */
  blockTable?: string;
  blockDays: number;
  journalBlocks: number;
  scans: ('storage-order' | 'date-index')[];
  /** slices of the keys read after the first pass (each a pass over the lines again) */
  slices: number;
  /** the most (key, order) pairs held at once (so far, while slices are read) */
  pairsHeld: number;
  /**
   * Where histograms answered (a few keys: src/sales/key-histograms.ts): whether percentiles were read
   * from their bins (approx), and whether the lines were read again for the totals of the wanted bins.
   */
  histograms?: HistogramPasses;
}

export interface HistogramPasses {
  binned: boolean;
  readAgain: boolean;
}

/** Per key, interleaved: revenue, units, orders. */
const SUMS = 3;
const REVENUE = 0;
const UNITS = 1;
const ORDERS = 2;
/** Per finished key, interleaved: the orders' total value, distinct customers, p50, p95, p99 (NaN: none). */
const STATS = 5;
const ORDER_VALUE = 0;
const CUSTOMERS = 1;
const P50 = 2;

/**
 * One slice's keys' figures, in rank order: `sums` and `stats` hold `SUMS` and `STATS` numbers a key. The
 * arrays are the accumulator's, reused by the next slice: a slice is used (its buckets made) before the next.
 */
export interface SliceFigures {
  keys: number;
  ids: Float64Array;
  sums: Float64Array;
  stats: Float64Array;
}

export class ProductAccumulator {
  private readonly byId: Int32Array | null;
  private readonly slot = new Map<number, number>();
  private readonly id: Column<Float64Array>;
  private sums: Float64Array;
  /** a slice's pass: per key where its share is filled to and where it ends (interleaved; 0, 0 outside) */
  private share = new Int32Array(0);
  private customers = new Int32Array(0);
  private values: Uint32Array | Float64Array = new Uint32Array(0);
  /** whether every order total the first pass met fits a Uint32Array (whole cents, 0 to 2^32 - 1) */
  private totalsFit32 = true;
  /** a slice's figures, made into the same arrays slice after slice (sized for the slice of most keys) */
  private sliceFigures = sliceFiguresFor(0);
  /** the keys ranked by revenue (every key, or the first `top`), and where each slice of them starts */
  private ranked: Int32Array = new Int32Array(0);
  private sliceStarts: number[] = [];
  /**
   * By product id (ids up to DIRECT_SLOT_MAX_ID): 1 for the products whose lines the slice being read
   * takes (its products, or the products of its categories); a pass skips the others' lines by it.
   */
  private inSlice: Uint8Array | null = null;
  /** the largest product id the first pass met */
  private maxProduct = 0;
  private slice = -1;
  private held = 0;
  /**
   * The keys the order being read has met so far: an order's lines arrive together, so an order counts
   * once per key by looking among its own few keys, not by a last-order mark per key (8 bytes a key).
   */
  private order = -1;
  private orderKeys = new Int32Array(16);
  private orderKeyCount = 0;
  /** the largest customer id counted (the marks of distinct customers are sized by it) */
  private maxCustomer = 0;
  private distinct: DistinctIds | null = null;
  /** the second pass reads for the histograms' target bins (a few keys), not in slices of pairs */
  private byHistogram = false;
  /** whether a slice's pass reads the lines again (not where binned histograms answered in one pass) */
  private linesAgain = true;
  rows = 0;

  /**
   * key -> dense index: an array indexed by key where keys are small, a Map otherwise. The key is the
   * product id, or what `keyOf` maps it to (a category's number) with `maxId` the largest key.
   */
  constructor(
    private readonly maxId: number,
    private readonly keyOf: ProductKeys | null = null,
    private readonly histograms: KeyHistograms | null = null,
  ) {
    this.byId = maxId <= DIRECT_SLOT_MAX_ID ? new Int32Array(maxId + 1).fill(-1) : null;
    // sized for every key where keys are small (pages a missing key leaves untouched cost no memory), so
    // they never grow: a grown copy is garbage until the thread's next full collection
    const capacity = this.byId ? maxId + 1 : 1024;
    this.id = new Column(new Float64Array(capacity), (n) => new Float64Array(n));
    this.sums = new Float64Array(capacity * SUMS);
  }

  /** The most (key, order) pairs held at once so far. */
  get pairsHeld(): number {
    return this.held;
  }

  line(
    orderPk: number,
    customerPk: number,
    orderTotal: number,
    product: number,
    quantity: number,
    unitPrice: number,
  ): void {
    const key = this.keyOf ? this.keyOf(product) : product;
    let p = this.indexOf(key);
    if (this.slice >= 0) {
      if (this.byHistogram) {
        if (p !== -1 && this.firstOfOrder(orderPk, p)) this.histograms!.collect(p, orderTotal);
        return;
      }
      // the same lines again: the order into its key's share, once per key (a key outside the slice has none)
      const at = 2 * p;
      if (p === -1 || this.share[at] === this.share[at + 1] || !this.firstOfOrder(orderPk, p)) return;
      const i = this.share[at]!++;
      this.customers[i] = customerPk;
      this.values[i] = orderTotal;
      return;
    }
    this.rows++;
    if (product > this.maxProduct) this.maxProduct = product;
    if (p === -1) p = this.addKey(key);
    const s = p * SUMS;
    this.sums[s + REVENUE]! += quantity * unitPrice;
    this.sums[s + UNITS]! += quantity;
    if (this.firstOfOrder(orderPk, p)) {
      this.sums[s + ORDERS]!++;
      if (customerPk > this.maxCustomer) this.maxCustomer = customerPk;
      if (orderTotal >>> 0 !== orderTotal) this.totalsFit32 = false;
      this.histograms?.add(p, customerPk, orderTotal);
    }
  }

  /** Whether this is order `orderPk`'s first line of key `p` (remembered if so). */
  private firstOfOrder(orderPk: number, p: number): boolean {
    if (orderPk !== this.order) {
      this.order = orderPk;
      this.orderKeyCount = 0;
    } else for (let i = 0; i < this.orderKeyCount; i++) if (this.orderKeys[i] === p) return false;
    if (this.orderKeyCount === this.orderKeys.length) {
      const more = new Int32Array(this.orderKeys.length * 2);
      more.set(this.orderKeys);
      this.orderKeys = more;
    }
    this.orderKeys[this.orderKeyCount++] = p;
    return true;
  }

  /** A key's dense index (-1: none yet). */
  private indexOf(key: number): number {
    return this.isDirect(key) ? this.byId![key]! : (this.slot.get(key) ?? -1);
  }

  /** Whether a key's index is kept in the array (small keys) rather than the Map. */
  private isDirect(key: number): boolean {
    return this.byId !== null && key >= 0 && key <= this.maxId;
  }

  private addKey(key: number): number {
    const p = this.id.length;
    if (this.isDirect(key)) this.byId![key] = p;
    else this.slot.set(key, p);
    this.id.push(key);
    if ((p + 1) * SUMS > this.sums.length) {
      const bigger = new Float64Array(this.sums.length * 2);
      bigger.set(this.sums);
      this.sums = bigger;
    }
    return p;
  }

  /**
   * A decoded block's lines of the orders whose status code is marked in `wanted` (and, given `keep`, that
   * it keeps: by the order's index in the block), in any pass (a block holds no order twice).
   */
  block(b: LineBlock, wanted: Uint8Array, keep?: (order: number) => boolean): void {
    // a slice's pass: the lines of products outside it skipped here, by one byte each (an id past the map
    // is none the first pass met)
    const inSlice = this.slice >= 0 ? this.inSlice : null;
    for (let o = 0, from = 0; o < b.orders; o++) {
      const to = b.lineEnd[o]!;
      if (wanted[b.status[o]!] === 1 && (keep === undefined || keep(o))) {
        const pk = b.orderPk[o]!;
        const customer = b.customerPk[o]!;
        const total = b.total[o]!;
        for (let i = from; i < to; i++) {
          const product = b.productId[i]!;
          if (inSlice !== null && inSlice[product] !== 1) continue;
          this.line(pk, customer, total, product, b.quantity[i]!, b.unitPrice[i]!);
        }
      }
      from = to;
    }
  }

  /**
   * Ends the first pass: the keys ranked by revenue (every key, or the first `top`), cut in rank order into
   * slices whose pairs fit `budget` (a key with more is a slice of its own). Returns how many slices; each
   * is read by startSlice, the lines again, finishSlice.
   */
  endFirstPass(
    top = Number.POSITIVE_INFINITY,
    budget = pairBudgetFor(this.id.length, this.pairBytes),
  ): number {
    const keys = this.id.length;
    this.ranked = topByRevenue(this.id.data, this.sums, keys, top);
    const ranked = this.ranked.length;
    // a few keys: one more pass for their percentiles' bins, if what it keeps fits the budget
    const kept = this.histograms?.plan(this.ranked, (p) => this.sums[p * SUMS + ORDERS]!);
    if (kept !== undefined && kept <= budget) {
      this.byHistogram = true;
      this.linesAgain = kept > 0;
      this.sliceStarts = ranked > 0 ? [0] : [];
      this.sliceFigures = sliceFiguresFor(ranked);
      return this.sliceStarts.length;
    }
    this.sliceStarts = [];
    let pairs = 0;
    let largest = 0;
    for (const [m, p] of this.ranked.entries()) {
      const orders = this.sums[p * SUMS + ORDERS]!;
      if (m === 0 || (pairs > 0 && pairs + orders > budget)) {
        largest = Math.max(largest, pairs);
        this.sliceStarts.push(m);
        pairs = 0;
      }
      pairs += orders;
    }
    largest = Math.max(largest, pairs);
    // one slice's shares and figures at a time, in arrays sized for the largest (made after the ranking's
    // sort): slice after slice into the same memory, not a new slice's arrays while the last's wait for a
    // full collection (~3 MB a slice for 500k products, ~30 MB for all)
    this.customers = new Int32Array(largest);
    this.values = this.totalsFit32 ? new Uint32Array(largest) : new Float64Array(largest);
    this.share = new Int32Array(2 * keys);
    let most = 0;
    for (let s = 0; s < this.sliceStarts.length; s++) most = Math.max(most, this.keysOf(s).length);
    this.sliceFigures = sliceFiguresFor(most);
    return this.sliceStarts.length;
  }

  /** A pair's bytes in this scan's slices, once the first pass has met every order total. */
  get pairBytes(): PairBytes {
    return this.totalsFit32 ? 8 : 12;
  }

  /** Whether each slice's pass reads the lines (false: the first pass answered every figure). */
  get readsLinesAgain(): boolean {
    return this.linesAgain;
  }

  /** How histograms answered, once the first pass has ended (undefined: they did not). */
  get histogramPasses(): HistogramPasses | undefined {
    return this.byHistogram ? { binned: this.histograms!.binned, readAgain: this.linesAgain } : undefined;
  }

  /** Slice `s`'s keys, in rank order. */
  private keysOf(s: number): Int32Array {
    return this.ranked.subarray(this.sliceStarts[s], this.sliceStarts[s + 1] ?? this.ranked.length);
  }

  /** Starts slice `s`'s pass: its keys' shares laid out (the previous slice's cleared). */
  startSlice(s: number): void {
    if (this.slice >= 0 && !this.byHistogram) this.mark(this.keysOf(this.slice), false);
    this.slice = s;
    this.order = -1; // a pass starts afresh, whichever order the last one ended with
    if (this.byHistogram) return; // every line goes to `line`: every key is in the one slice
    const keys = this.keysOf(s);
    let at = 0;
    for (const p of keys) {
      this.share[2 * p] = at;
      at += this.sums[p * SUMS + ORDERS]!;
      this.share[2 * p + 1] = at;
    }
    this.mark(keys, true);
    this.held = Math.max(this.held, at);
  }

  /**
   * Marks a slice's keys in (their shares laid out first) or out (their shares emptied), and the product
   * ids whose lines a pass takes: the keys themselves, or every product whose key is in the slice.
   */
  private mark(keys: Int32Array, into: boolean): void {
    if (!into) for (const p of keys) this.share[2 * p] = this.share[2 * p + 1] = 0;
    if (this.maxProduct > DIRECT_SLOT_MAX_ID) return; // no map: every line goes to `line`
    this.inSlice ??= new Uint8Array(this.maxProduct + 1);
    const inSlice = this.inSlice;
    if (this.keyOf) {
      if (!into) return; // remade whole for the next slice
      for (let product = 0; product <= this.maxProduct; product++) {
        const p = this.indexOf(this.keyOf(product));
        inSlice[product] = p >= 0 && this.share[2 * p] !== this.share[2 * p + 1] ? 1 : 0;
      }
      return;
    }
    for (const p of keys) {
      const product = this.id.data[p]!;
      if (product >= 0 && product <= this.maxProduct) inSlice[product] = into ? 1 : 0;
    }
  }

  /**
   * Ends a slice's pass: its keys' figures in rank order (distinct customers by marks, percentiles by
   * selection), in arrays the next slice reuses; its pairs are dropped by the next slice.
   */
  finishSlice(): SliceFigures {
    const keys = this.keysOf(this.slice);
    const figures = this.sliceFigures;
    figures.keys = keys.length;
    for (const [m, p] of keys.entries()) {
      figures.ids[m] = this.id.data[p]!;
      figures.sums.set(this.sums.subarray(p * SUMS, (p + 1) * SUMS), m * SUMS);
    }
    if (this.byHistogram) {
      for (const [m, p] of keys.entries()) {
        const { orderValue, customers, percentiles } = this.histograms!.figures(p);
        figures.stats.set([orderValue, customers, ...percentiles], m * STATS);
      }
      return figures;
    }
    this.distinct ??= new DistinctIds(this.maxCustomer);
    for (const [m, p] of keys.entries()) {
      // the share from where it was laid out to where the pass filled it (its end: one snapshot reads the
      // same orders in every pass)
      const end = this.share[2 * p]!;
      const from = this.share[2 * p + 1]! - this.sums[p * SUMS + ORDERS]!;
      const values = this.values.subarray(from, end);
      const at = m * STATS;
      let orderValue = 0;
      for (let i = 0; i < values.length; i++) orderValue += values[i]!;
      figures.stats[at + ORDER_VALUE] = orderValue;
      figures.stats[at + CUSTOMERS] = this.distinct.count(this.customers.subarray(from, end));
      placeNearestRanks(values, BUCKET_PERCENTILES);
      BUCKET_PERCENTILES.forEach((percentile, k) => {
        figures.stats[at + P50 + k] = nearestRank(values, percentile) ?? Number.NaN;
      });
    }
    return figures;
  }
}

/** Arrays for the figures of a slice of up to `keys` keys. */
function sliceFiguresFor(keys: number): SliceFigures {
  return {
    keys: 0,
    ids: new Float64Array(keys),
    sums: new Float64Array(keys * SUMS),
    stats: new Float64Array(keys * STATS),
  };
}

/**
 * The indices of the `top` highest revenues of the first `n` keys (`sums` as the accumulator keeps them),
 * highest first, ties to the lower id. A few of many are picked by the revenue the `top`-th reaches (one
 * numeric sort of the revenues), then only those are ordered.
 */
function topByRevenue(ids: Float64Array, sums: Float64Array, n: number, top: number): Int32Array {
  const revenue = (m: number) => sums[m * SUMS + REVENUE]!;
  let candidates: Int32Array;
  if (top >= n) candidates = Int32Array.from({ length: n }, (_, m) => m);
  else {
    const threshold = Float64Array.from({ length: n }, (_, m) => revenue(m)).sort()[n - top]!;
    const picked: number[] = [];
    for (let m = 0; m < n; m++) if (revenue(m) >= threshold) picked.push(m);
    candidates = Int32Array.from(picked);
  }
  return candidates.sort((a, b) => revenue(b) - revenue(a) || ids[a]! - ids[b]!).subarray(0, top);
}

/** Key `m` of a slice's figures as a bucket of the contract. */
export function figureBucket(f: SliceFigures, m: number, key: Bucket['key'] = f.ids[m]!): Bucket {
  const s = m * SUMS;
  const at = m * STATS;
  const sums = {
    revenue: f.sums[s + REVENUE]!,
    units: f.sums[s + UNITS]!,
    orders: f.sums[s + ORDERS]!,
    orderValue: f.stats[at + ORDER_VALUE]!,
  };
  return bucketOf(key, sums, f.stats[at + CUSTOMERS]!, (percentile) => {
    const v = f.stats[at + P50 + BUCKET_PERCENTILES.indexOf(percentile as 50)];
    return v === undefined || Number.isNaN(v) ? null : v;
  });
}
