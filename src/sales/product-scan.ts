/**
 * Sales by product (or by any key a product maps to: categories, src/sales/category-scan.ts) from every
 * line of the range: the columnar line blocks of its clean whole days (src/storage/line-blocks.ts) and the
 * rest from the order journal or the tables, each order's lines together, accumulated by
 * src/sales/product-accumulator.ts (a pass to sum, then passes in slices of the products that fit its pair
 * budget). Exact by construction, so both precisions use it for any ranking.
 */
import { type Bucket, DAY, type SalesRequest } from '../domain/sales.js';
import { decodeLineBlock, statusCodes } from '../storage/line-blocks.js';
import { countOrdersInRange, newestOrderPk } from '../storage/order-counts.js';
import { journalBlocks, journalStartFor } from '../storage/order-journal.js';
import { lineBlocksOfDaySql, productScanSql } from '../storage/sales-sql.js';
import type { Db } from '../storage/sqlite.js';
import { BLOCK_SCAN_GARBAGE_BYTES, youngGarbageCollector } from '../worker/young-garbage.js';
import type { SalesAnswer } from './buckets.js';
import { histogramsFit, KeyHistograms } from './key-histograms.js';
import {
  figureBucket,
  ProductAccumulator,
  type ProductKeys,
  type ScanSources,
  type SliceFigures,
} from './product-accumulator.js';
import { EVERY_STATUS, SpilledLines } from './spilled-lines.js';

/**
 * A range holding at least this share of the shard's orders is read in storage order (a sequential walk
 * of both tables); a narrower one through the date index (only its orders, in date order).
 */
const FULL_WALK_SHARE = 0.25;

/**
 * Which journalled orders a scan reads (by order_pk and created_at): those past the watermark in the range,
 * and those up to it in the ranges the day blocks do not answer (`outside`, sorted, disjoint).
 */
function journalSelection(
  r: SalesRequest,
  outside: readonly [number, number][],
  folded: number,
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
  return (pk, t) => (pk >= folded ? t >= r.start && t < r.end : isOutside(t));
}

type Walk = ScanSources['scans'][number];

/** What a scan ranks, and its plural in `meta.method`. */
type RankedKey = 'product' | 'category';
const PLURAL: Record<RankedKey, string> = { product: 'products', category: 'categories' };

/** How a scan reads: what products map to (categories), a ranking's top, its pair budget. */
export interface ScanOptions {
  /** what lines are accumulated under instead of their product (its largest number, and what it is called) */
  keys?: { of: ProductKeys; max: number; name: RankedKey };
  top?: number;
  pairBudget?: number;
  /**
   * An approx ranking of a few keys may answer percentiles from histogram bins in one pass (within
   * BINNED_RELATIVE_ERROR, src/sales/key-histograms.ts) instead of selecting them in a second.
   */
  binnedPercentiles?: boolean;
}

/**
 * A ranking's first pass done: the lines it read, where from, and its slices' figures (the ranked keys, a
 * slice at a time, in rank order), taken once.
 */
export interface ProductScan {
  /** what was ranked: products, or what keys stood for */
  ranked: RankedKey;
  rows: number;
  /** where the lines came from (`pairsHeld` grows as slices are read) */
  sources: ScanSources;
  slices: Iterable<SliceFigures>;
}

/**
 * The range's order lines accumulated per product (or per key a product maps to), ranked by revenue: the
 * clean whole days' line blocks and, for what they do not hold (the days around whole days, days with a
 * dirty hour, orders past the rollup watermark), the order journal, or the tables for orders older than
 * the journal. The first pass (sums, ranking) is read now; each slice of the ranked products whose orders
 * fit the pair budget is read again as the slices are taken (src/sales/product-accumulator.ts), so the
 * caller holds one read transaction from this call until the last slice is taken.
 */
export function scanProducts(db: Db, r: SalesRequest, options: ScanOptions = {}): ProductScan {
  const { keys } = options;
  const maxId =
    keys?.max ??
    (db.prepare('SELECT max(product_id) AS m FROM products').get() as { m: number | null }).m ??
    0;
  // a few keys (categories): two passes whatever the orders, by histograms, where their bitsets fit
  const maxCustomer = keys
    ? (db.prepare('SELECT coalesce(max(customer_pk), 0) FROM customers').pluck().get() as number)
    : 0;
  const histograms =
    keys && histogramsFit(keys.max + 1, maxCustomer)
      ? new KeyHistograms(maxCustomer, options.binnedPercentiles === true)
      : null;
  const acc = new ProductAccumulator(maxId, keys?.of ?? null, histograms);
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
  const dropped = youngGarbageCollector(BLOCK_SCAN_GARBAGE_BYTES);
  const readBlocks = (): number => {
    let days = 0;
    for (const day of plan.blockDays) {
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
  const journalled = journalSelection(r, plan.outside, folded);
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
  // the orders in neither, from the tables: read once, spilled for the slices
  const scans: Walk[] = [];
  const spilled = new SpilledLines();
  // how to walk is chosen only once there is something to read (the choice may count the range's orders)
  const scan = (walk: () => Walk, pkFrom: number, pkTo: number, start: number, end: number) => {
    pkTo = Math.min(pkTo, journalStart); // order_pks start at 1
    if (pkTo <= Math.max(pkFrom, 1) || end <= start) return;
    const chosen = walk();
    scans.push(chosen);
    const stmt = db.prepare(productScanSql(r.statuses.length, chosen)).raw();
    for (const row of stmt.iterate(pkFrom, pkTo, start, end, ...r.statuses) as IterableIterator<number[]>) {
      acc.line(row[0]!, row[1]!, row[2]!, row[3]!, row[4]!, row[5]!);
      spilled.line(row[0]!, row[1]!, row[2]!, row[3]!, row[4]!, row[5]!);
    }
  };
  const readTables = () => {
    for (const [start, end] of plan.outside) {
      // counted as far as the choice needs, and only where the tables hold some of the range's orders (where
      // the journal holds every one, counting them cost ~37 ms of a year's first pass for nothing)
      const walkFrom = Math.ceil(newest * FULL_WALK_SHARE);
      const choose = (): Walk =>
        countOrdersInRange(db, { start, end }, walkFrom) >= walkFrom ? 'storage-order' : 'date-index';
      scan(choose, 0, folded, start, end);
    }
    scan(() => 'storage-order', folded, newest + 1, r.start, r.end); // past the watermark
  };
  const blockDays = readBlocks();
  readJournal();
  const firstPassJournalBlocks = journalBlocksRead;
  try {
    readTables();
    spilled.flush();
  } catch (error) {
    spilled.close(); // what it spilled goes with its connection
    throw error;
  }
  const sources: ScanSources = {
    blockDays,
    journalBlocks: firstPassJournalBlocks,
    scans,
    slices: acc.endFirstPass(options.top, options.pairBudget),
    pairsHeld: 0,
    ...(acc.histogramPasses ? { histograms: acc.histogramPasses } : {}),
  };
  function* slices(): Generator<SliceFigures> {
    try {
      for (let s = 0; s < sources.slices; s++) {
        acc.startSlice(s);
        if (acc.readsLinesAgain) {
          readBlocks();
          readJournal();
          for (const b of spilled.read()) acc.block(b, EVERY_STATUS);
        }
        sources.pairsHeld = acc.pairsHeld;
        yield acc.finishSlice();
      }
    } finally {
      spilled.close();
    }
  }
  return { ranked: keys?.name ?? 'product', rows: acc.rows, sources, slices: slices() };
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

/** A ranking's buckets, made as they are taken (once): an Arrow stream holds a record batch's at a time. */
export type ProductRanking = RankingSummary & { buckets: () => Generator<Bucket> };

/** The same, its slices read asynchronously (PostgreSQL's, through COPY) as the buckets are taken. */
export type AsyncProductRanking = RankingSummary & { buckets: () => AsyncGenerator<Bucket> };

/** What an answer says of a ranking besides its buckets: rows read, how, and how percentiles were found. */
type RankingSummary = Omit<SalesAnswer, 'data'>;

/** A scan's summary (`percentiles` only where binned: nothing means exactly). */
function summaryOf(scan: Pick<ProductScan, 'ranked' | 'rows' | 'sources'>): RankingSummary {
  return {
    rows: scan.rows,
    method: rankingMethod(scan),
    ...(scan.sources.histograms?.binned ? { percentiles: 'binned' as const } : {}),
  };
}

/** A scan's ranked keys as buckets, the first `top`, each slice's as the slice is read. */
export function productRanking(scan: ProductScan, top: number): ProductRanking {
  function* buckets(): Generator<Bucket> {
    let taken = 0;
    for (const figures of scan.slices) {
      yield* bucketsOfSlice(figures, top - taken);
      taken += Math.min(figures.keys, top - taken);
    }
  }
  return { ...summaryOf(scan), buckets };
}

/** The same over slices read asynchronously. */
export function asyncProductRanking(
  scan: Omit<ProductScan, 'slices'> & { slices: AsyncIterable<SliceFigures> },
  top: number,
): AsyncProductRanking {
  async function* buckets(): AsyncGenerator<Bucket> {
    let taken = 0;
    for await (const figures of scan.slices) {
      yield* bucketsOfSlice(figures, top - taken);
      taken += Math.min(figures.keys, top - taken);
    }
  }
  return { ...summaryOf(scan), buckets };
}

/** An asynchronous ranking's buckets, taken whole (a JSON answer; `Array.fromAsync` from Node 22 on). */
export async function allBuckets(ranking: AsyncProductRanking): Promise<Bucket[]> {
  const data: Bucket[] = [];
  for await (const bucket of ranking.buckets()) data.push(bucket);
  return data;
}

/** A slice's buckets in rank order, at most `left`. */
function* bucketsOfSlice(figures: SliceFigures, left: number): Generator<Bucket> {
  for (let m = 0; m < figures.keys && m < left; m++) yield figureBucket(figures, m);
}

/** `meta.method` of a ranking read from the lines. */
function rankingMethod(scan: Pick<ProductScan, 'ranked' | 'sources'>): string {
  const read = `one pass over the range's order lines (${linesRead(scan.sources, PLURAL[scan.ranked])}), every ${scan.ranked} accumulated in typed arrays`;
  return scan.sources.histograms?.binned
    ? `counted exactly, percentiles binned: ${read}, each order value in a histogram of 256 bins an octave, then ranked`
    : `exact: ${read}, then ranked`;
}

/**
 * A ranking read while it is taken, on a connection of its own (`db`: a private reader the ranking takes
 * over): one read transaction from the first pass to the last slice, the connection closed when the buckets
 * end, fail or are abandoned (the consumer stops taking them: a client that went away).
 */
export function rankingOnReader(
  db: Db,
  r: SalesRequest,
  options: ScanOptions & { top: number },
): ProductRanking {
  try {
    db.exec('BEGIN');
    const ranking = productRanking(scanProducts(db, r, options), options.top);
    return {
      ...ranking,
      *buckets() {
        try {
          yield* ranking.buckets();
        } finally {
          db.close(); // its read transaction ends with it
        }
      },
    };
  } catch (error) {
    db.close();
    throw error;
  }
}

/** The range's products ranked, the first `top`, as one answer read in one transaction. */
export function rankedAnswer(db: Db, r: SalesRequest, options: ScanOptions & { top: number }): SalesAnswer {
  return db.transaction(() => {
    const { buckets, ...summary } = productRanking(scanProducts(db, r, options), options.top);
    return { data: [...buckets()], ...summary };
  })();
}

/**
 * Where a scan read its lines, for `meta.method`: block days, journal blocks, tables (how), and how many
 * times it read them again for its slices.
 */
function linesRead(sources: ScanSources, keys = 'products'): string {
  const scans = [...new Set(sources.scans)].map((walk) =>
    walk === 'storage-order' ? 'in storage order' : 'through the date index',
  );
  const read = [
    ...(sources.blockDays > 0
      ? [`${sources.blockTable ?? 'order_line_blocks'} of ${sources.blockDays} days`]
      : []),
    ...(sources.journalBlocks > 0 ? [`${sources.journalBlocks} order_journal blocks`] : []),
    ...(scans.length > 0 ? [`orders and their lines (${scans.join(' and ')})`] : []),
  ];
  const again =
    sources.slices > 1
      ? `; read again in ${sources.slices} slices of the ${keys}`
      : sources.histograms?.readAgain
        ? "; read again for the totals in the percentiles' histogram bins"
        : '';
  return `${read.join(' + ') || 'none in the range'}${again}`;
}

/** Every product's exact sales in the range, ranked, the first `top` (the slices hold the top products only). */
export function productsByScan(db: Db, r: SalesRequest): SalesAnswer {
  return rankedAnswer(db, r, { top: r.top });
}
