/**
 * The sales pre-aggregates of a shard: hourly, daily, daily by category and by product, kept current by
 * folding in new orders as deltas or rebuilding dirty hours. Longer than ~300 lines on purpose: one class,
 * whose deltas and rebuilds share its statements (src/storage/rollup-sql.ts) and its row keys.
 */
import type { Statement } from 'better-sqlite3';
import { firstDayOfMonth, monthOfDay } from '../domain/months.js';
import { DAY, HOUR, rollupStatusKeys } from '../domain/sales.js';
import { ORDER_STATUSES } from '../domain/vocabulary.js';
import { approxBucket, exactBucket } from '../sales/buckets.js';
import { type AggregateRow, aggregateFor, SalesAggregate } from '../sketches/sales-aggregate.js';
import { type JournalDays, JournalMonths } from './journal-days.js';
import {
  decodeLineBlock,
  LINE_BLOCK_MAX_BYTES,
  type LineBlockPiece,
  LineBlockWriter,
  lineBlockBytes,
} from './line-blocks.js';
import { journalHoldsEveryOrder } from './order-journal.js';
import { productCategories } from './product-categories.js';
import { groupLines, type LineGroups, type LineRow } from './rollup-line-groups.js';
import { type RollupStatements, rollupStatements } from './rollup-sql.js';
import type { Db } from './sqlite.js';

/** Every time an order can have (JavaScript's last Date): a range over it is the whole shard. */
export const ALL_TIME = { start: 0, end: 8.64e15 } as const;

/** Days rebuilt per transaction (at most 48 hours): bounds how long one rebuild holds the shard's write lock. */
export const REBUILD_BATCH_DAYS = 2;

/**
 * Pending orders folded in as deltas at most: past this many (a bulk load), their hours are marked dirty
 * instead and rebuilt from the orders, which costs less per order when most of a day is new. Deltas cost
 * per row they touch, and a batch's aggregates are held at once: 5,000 orders spread over a year held
 * tens of thousands of sketches (a soak of 20 tenants peaked 34 MB higher).
 */
export const DELTA_MAX_ORDERS = 1000;

/**
 * Blocks of order lines a day may be in beyond those its lines need (its rebuild's, then one or more per
 * delta) before they are compacted.
 */
export const BLOCK_PARTS_MAX = 8;

/** A day's lines are stored in blocks of at most this many bytes (src/storage/line-blocks.ts). */
export const DAY_BLOCK_BYTES = LINE_BLOCK_MAX_BYTES;

/** What folding in the pending orders did: how many, and how (deltas, hours marked dirty, or nothing). */
export interface PendingResult {
  orders: number;
  mode: 'delta' | 'marked' | 'none';
}

/**
 * What a rebuild did: hours rebuilt, order rows read, months merged from their days alone (the ones whose
 * last dirty day an earlier rebuild cleaned), and hours of its range still dirty after it.
 */
export interface RebuildResult {
  hours: number;
  rows: number;
  months: number;
  remaining: number;
}

/** Dirty hours grouped by day, the newest day first: recent days are what dashboards ask for first. */
function hoursByDayNewestFirst(hours: readonly number[]): number[][] {
  const byDay = new Map<number, number[]>();
  for (const hour of hours) {
    const day = Math.floor(hour / 24);
    const list = byDay.get(day);
    if (list) list.push(hour);
    else byDay.set(day, [hour]);
  }
  return [...byDay.entries()].sort((a, b) => b[0] - a[0]).map(([, list]) => list);
}

/**
 * The materialised views: per hour and per day (and per day and category, per day and product), per
 * status, exact orders/units/revenue, an HLL of customers and a t-digest of order values, and their exact
 * counterparts (sorted lists of the distinct customers and of the order values) where the level keeps them.
 *
 * What they hold is every order up to the watermark (rollup_watermark), except in dirty hours. New orders
 * are pending until `applyPending` folds them in: a small batch as deltas merged into the rows it touches
 * (a dashboard sees a trickle of orders within moments, whatever their dates), a large one by marking its
 * hours dirty. `rebuild` recomputes a dirty hour, and the day-level rows of its day, from the orders up to
 * the watermark (read from the order journal where it holds every order, else from the tables: the same
 * rows either way, src/storage/journal-days.ts): the repair path, and the cheaper one for a day that is
 * mostly new.
 */
export class RollupBuilder {
  private readonly s: RollupStatements;
  /** each product's category, loaded on the first rebuild of a day's lines */
  private categories: ReturnType<typeof productCategories> | null = null;
  /** the journal's months a rebuild works through, read once for its batches (cleared when it ends) */
  private readonly journalMonths = new JournalMonths();

  constructor(private readonly db: Db) {
    this.s = rollupStatements(db);
  }

  /**
   * The day level: the day's hourly rows merged per key, the default sale statuses' pre-merged key
   * included (the hours keep one too).
   */
  private rebuildDaily(day: number, now: number): void {
    const groups = new Map<string, SalesAggregate>();
    for (const r of this.s.dayHours.iterate(day * 24, (day + 1) * 24) as IterableIterator<
      AggregateRow & { status: string }
    >)
      aggregateFor(groups, r.status).mergeRow(r);
    this.s.deleteDaily.run(day);
    this.s.deleteDayAnswers.run(day);
    this.store('day', day, groups, now);
  }

  /**
   * The day per status and category, and the day's line block, from one pass over the day's lines (up to
   * the watermark): each order's lines of a category summed, the order counted once.
   */
  private rebuildDayLines(day: number, watermark: number, journal: JournalDays | null): void {
    const block = new LineBlockWriter();
    const rows = journal
      ? journal.dayLines(day)
      : (this.s.dayLines.iterate(day * DAY, (day + 1) * DAY, watermark) as IterableIterator<number[]>);
    const categories = groupLines(tapped(this.dayLineRows(rows), (line) => block.add(line)));
    this.s.deleteDayBlocks.run(day);
    this.storeDayBlocks(day, block.pieces(DAY_BLOCK_BYTES), 0);
    this.s.deleteDayCategory.run(day);
    for (const [status, category, sales] of categories.entries())
      this.writeCategory(this.s.insertDayCategory, day, status, category, sales);
  }

  /**
   * A day's lines up to the watermark, read as raw rows (from the tables or the journal) and given their
   * status and category names from shared strings (the product map reloaded once if a product is newer
   * than it; a line whose product is unknown is left out, as the join on products did).
   */
  private *dayLineRows(rows: Iterable<readonly number[]>): Generator<LineRow> {
    this.categories ??= productCategories(this.db);
    for (const [orderPk, status, customerPk, total, productId, quantity, price] of rows) {
      let category = this.categories.of(productId!);
      if (category === -1) {
        this.categories = productCategories(this.db);
        category = this.categories.of(productId!);
        if (category === -1) continue;
      }
      yield {
        order_pk: orderPk!,
        status: ORDER_STATUSES[status!]!,
        customer_pk: customerPk!,
        total_cents: total!,
        category: this.categories.names[category]!,
        product_id: productId!,
        quantity: quantity!,
        unit_price_cents: price!,
      };
    }
  }

  /** One category row of a level: the day's (insertDayCategory) or the month's (insertMonthCategory). */
  private writeCategory(
    insert: Statement,
    key: number,
    status: string,
    category: string,
    sales: SalesAggregate,
  ): void {
    const row = sales.toRow();
    insert.run(
      key,
      status,
      category,
      row.orders,
      row.units,
      row.revenue_cents,
      sales.orderValue,
      row.customers_hll,
      row.values_tdigest,
      row.customers_exact,
      row.values_exact,
    );
  }

  /**
   * Folds the orders past the watermark into the pre-aggregates and moves the watermark past them, in one
   * transaction (call it under the shard's write lock): up to `maxDelta` orders as deltas merged into each
   * row they touch, more by marking their hours dirty. Hours (days) already dirty are skipped: their
   * rebuild reads these orders from the table.
   */
  applyPending(maxDelta = DELTA_MAX_ORDERS): PendingResult {
    return this.db
      .transaction((): PendingResult => {
        const from = (this.s.watermark.get() as { pk: number }).pk;
        const to = (this.s.newestOrder.get() as { n: number }).n;
        if (to <= from) return { orders: 0, mode: 'none' };
        const orders = (this.s.pendingCount.get(from, to) as { n: number }).n;
        const mode = orders > maxDelta ? 'marked' : 'delta';
        if (mode === 'marked') {
          this.s.markPending.run(from, to);
          this.markMonthsOfDirtyHours();
        } else this.mergePending(from, to);
        this.s.setWatermark.run(to);
        return { orders, mode };
      })
      .immediate();
  }

  /** Whether any order lies past the watermark (not folded in yet): a read needs no lock when none does. */
  hasPending(): boolean {
    return (this.s.hasPending.get() as { pending: number }).pending === 1;
  }

  /** Orders past the watermark (not folded in yet), and when the oldest of them was acknowledged. */
  pendingAge(): { orders: number; oldestIngestedAt: number | null } {
    const { n, oldest } = this.s.pendingAge.get() as { n: number; oldest: number | null };
    return { orders: n, oldestIngestedAt: oldest };
  }

  /** The orders in (from, to] merged into the rows of the hours and days they fall in that are not dirty. */
  private mergePending(from: number, to: number): void {
    const now = Date.now();
    const hourDirty = memo((hour: number) => this.s.isDirty.get(hour) !== undefined);
    const dayDirty = memo((day: number) => this.s.anyDirtyIn.get(day * 24, (day + 1) * 24) !== undefined);
    const hours = new Map<string, SalesAggregate>();
    const days = new Map<string, SalesAggregate>();
    for (const o of this.s.pendingOrders.iterate(from, to) as IterableIterator<{
      created_at: number;
      status: string;
      customer_pk: number;
      total_cents: number;
      units: number | null;
    }>) {
      const hour = Math.floor(o.created_at / HOUR);
      const day = Math.floor(o.created_at / DAY);
      for (const key of rollupStatusKeys(o.status)) {
        if (!hourDirty(hour))
          aggregateFor(hours, `${hour}\t${key}`).addOrder(o.customer_pk, o.total_cents, o.units ?? 0);
        if (!dayDirty(day))
          aggregateFor(days, `${day}\t${key}`).addOrder(o.customer_pk, o.total_cents, o.units ?? 0);
      }
    }
    for (const [key, delta] of hours) {
      const [hour, status] = splitKey(key);
      const merged = mergedWith(this.s.hourRow.get(hour, status) as AggregateRow | undefined, delta);
      this.store('hour', hour, new Map([[status, merged]]), now);
    }
    for (const [key, delta] of days) {
      const [day, status] = splitKey(key);
      const merged = mergedWith(this.s.dailyRow.get(day, status) as AggregateRow | undefined, delta);
      this.store('day', day, new Map([[status, merged]]), now);
    }
    // the lines, day by day: per category and per product
    const linesByDay = new Map<number, LineRow[]>();
    for (const line of this.s.pendingLines.iterate(from, to) as IterableIterator<
      LineRow & { created_at: number }
    >) {
      const day = Math.floor(line.created_at / DAY);
      if (dayDirty(day)) continue;
      const list = linesByDay.get(day);
      if (list) list.push(line);
      else linesByDay.set(day, [line]);
    }
    // a clean month's rows take the batch's deltas once, whatever number of its days they fall on (a
    // month's exact lists are tens of thousands long: merged day by day, a batch spread over a year decoded
    // and wrote each of them once per day it touched); a dirty one is merged from its days later
    const monthClean = memo((month: number) => this.s.isMonthDirty.get(month) === undefined);
    const linesByMonth = new Map<number, LineRow[]>();
    for (const [day, lines] of linesByDay) {
      this.mergeCategoryDeltas('day', day, groupLines(lines));
      this.appendDayBlock(day, lines);
      const month = monthOfDay(day);
      if (!monthClean(month)) continue;
      const list = linesByMonth.get(month) ?? [];
      for (const line of lines) list.push(line);
      linesByMonth.set(month, list);
    }
    for (const [month, lines] of linesByMonth) this.mergeCategoryDeltas('month', month, groupLines(lines));
  }

  /**
   * A clean day's new lines appended as more blocks; past BLOCK_PARTS_MAX blocks more than the day's lines
   * need, the day's are compacted, so a steady trickle does not leave a day in hundreds of pieces.
   */
  private appendDayBlock(day: number, lines: readonly LineRow[]): void {
    const delta = new LineBlockWriter();
    for (const line of lines) delta.add(line);
    const stored = this.s.dayBlockParts.get(day) as {
      n: number;
      last: number;
      orders: number;
      lines: number;
    };
    const needed = Math.ceil(
      lineBlockBytes(stored.orders + delta.orders, stored.lines + delta.lines) / DAY_BLOCK_BYTES,
    );
    const appended = delta.pieces(DAY_BLOCK_BYTES);
    if (stored.n + appended.length < needed + BLOCK_PARTS_MAX) {
      this.storeDayBlocks(day, appended, stored.last + 1);
      return;
    }
    const whole = new LineBlockWriter();
    for (const { block } of this.s.dayBlocks.iterate(day) as IterableIterator<{ block: Uint8Array }>)
      whole.addBlock(decodeLineBlock(block));
    whole.addBlock(decodeLineBlock(delta.encode()));
    this.s.deleteDayBlocks.run(day);
    this.storeDayBlocks(day, whole.pieces(DAY_BLOCK_BYTES), 0);
  }

  /** A day's blocks (LineBlockWriter.pieces) stored, their parts numbered from `firstPart`. */
  private storeDayBlocks(day: number, pieces: LineBlockPiece[], firstPart: number): void {
    for (const [i, piece] of pieces.entries())
      this.s.insertDayBlock.run(day, firstPart + i, piece.orders, piece.lines, piece.bytes);
  }

  /** Category deltas (an order's lines grouped, src/storage/rollup-line-groups.ts) merged into a level's rows. */
  private mergeCategoryDeltas(level: 'day' | 'month', key: number, categories: LineGroups<string>): void {
    const [read, insert] =
      level === 'day'
        ? [this.s.categoryRow, this.s.insertDayCategory]
        : [this.s.monthCategoryRow, this.s.insertMonthCategory];
    for (const [status, category, delta] of categories.entries()) {
      const stored = read.get(key, status, category) as AggregateRow | undefined;
      this.writeCategory(insert, key, status, category, mergedWith(stored, delta));
    }
  }

  /**
   * Writes one hourly or daily row per status (key, status, the aggregate's columns, time), and beside it
   * the answer of a bucket made of this row alone, exact and approx (sql/shard/017).
   */
  private store(level: 'hour' | 'day', key: number, groups: Map<string, SalesAggregate>, now: number): void {
    const [insert, insertAnswer] =
      level === 'hour'
        ? [this.s.insertHour, this.s.insertHourAnswer]
        : [this.s.insertDaily, this.s.insertDayAnswer];
    for (const [status, g] of groups) {
      const row = g.toRow();
      insert.run(
        key,
        status,
        row.orders,
        row.units,
        row.revenue_cents,
        row.customers_hll,
        row.values_tdigest,
        row.customers_exact,
        row.values_exact,
        now,
      );
      const exact = exactBucket(key, g);
      const approx = approxBucket(key, g);
      insertAnswer.run(
        key,
        status,
        row.orders,
        row.units,
        row.revenue_cents,
        exact.unique_customers,
        exact.p50_order_value_cents,
        exact.p95_order_value_cents,
        exact.p99_order_value_cents,
        approx.unique_customers,
        approx.p50_order_value_cents,
        approx.p95_order_value_cents,
        approx.p99_order_value_cents,
      );
    }
  }

  /** Every month holding a dirty hour marked dirty: its month row is not valid until its days are rebuilt. */
  private markMonthsOfDirtyHours(): void {
    const months = new Set<number>();
    for (const { day } of this.s.dirtyDays.iterate() as IterableIterator<{ day: number }>)
      months.add(monthOfDay(day));
    for (const month of months) this.s.markMonth.run(month);
  }

  /**
   * A dirty month whose hours are all clean merged again from its day rows per status and category, and
   * marked clean; a month with dirty hours left stays dirty (call inside a write transaction).
   */
  private rebuildMonthIfReady(month: number): boolean {
    const startDay = firstDayOfMonth(month);
    const endDay = firstDayOfMonth(month + 1);
    if (this.s.anyDirtyIn.get(startDay * 24, endDay * 24) !== undefined) return false;
    const groups = new Map<string, Map<string, SalesAggregate>>();
    for (const r of this.s.monthDayCategories.iterate(startDay, endDay) as IterableIterator<
      AggregateRow & { status: string; category: string }
    >) {
      let byCategory = groups.get(r.status);
      if (!byCategory) {
        byCategory = new Map();
        groups.set(r.status, byCategory);
      }
      aggregateFor(byCategory, r.category).mergeRow(r);
    }
    this.s.deleteMonthCategory.run(month);
    for (const [status, byCategory] of groups)
      for (const [category, sales] of byCategory)
        this.writeCategory(this.s.insertMonthCategory, month, status, category, sales);
    this.s.cleanMonth.run(month);
    return true;
  }

  /**
   * Dirty months of [startMs, endMs) whose days are all clean (their last dirty day was rebuilt by an
   * earlier call, or a migration listed them), merged from their days, newest first, one transaction each,
   * until the budget is spent; returns how many.
   */
  private rebuildReadyMonths(
    startMs: number,
    endMs: number,
    locked: (rebuild: () => number) => number,
    more: () => boolean,
  ): number {
    const months = (
      this.s.dirtyMonthsIn.all(
        monthOfDay(Math.floor(startMs / DAY)),
        monthOfDay(Math.ceil(endMs / DAY) - 1) + 1,
      ) as { month: number }[]
    ).map((r) => r.month);
    let rebuilt = 0;
    for (const month of months) {
      if (!more()) break;
      rebuilt += locked(() =>
        this.db.transaction(() => (this.rebuildMonthIfReady(month) ? 1 : 0)).immediate(),
      );
    }
    return rebuilt;
  }

  /**
   * Marks every hour holding orders or rollup rows dirty (a full rebuild on the next reads) and moves the
   * watermark past every order, which the rebuild then reads; returns how many hours.
   */
  markAllDirty(): number {
    return this.db.transaction(() => {
      const marked = this.s.markAll.run().changes;
      this.markMonthsOfDirtyHours();
      this.s.setWatermark.run((this.s.newestOrder.get() as { n: number }).n);
      return marked;
    })();
  }

  /**
   * Rebuilds the dirty hours of whole days around [startMs, endMs), newest day first, REBUILD_BATCH_DAYS
   * per transaction so the write lock is never held long; `locked` wraps each transaction (the worker's
   * write lock). Stops once `budgetMs` is spent or `stop()` says so (a writer waits), leaving the rest dirty
   * for the next caller: `remaining` is how many hours of the range are still dirty.
   */
  rebuildDirty(
    startMs: number,
    endMs: number,
    options: {
      locked?: (rebuild: () => number) => number;
      budgetMs?: number;
      stop?: () => boolean;
    } = {},
  ): RebuildResult {
    const {
      locked = (rebuild) => rebuild(),
      budgetMs = Number.POSITIVE_INFINITY,
      stop = () => false,
    } = options;
    // whole days: the per-day product sums and the day level need every hour of their day fresh
    const from = Math.floor(startMs / DAY) * DAY;
    const to = Math.ceil(endMs / DAY) * DAY;
    const days = hoursByDayNewestFirst(this.dirtyHours(from, to));
    const started = performance.now();
    let rows = 0;
    let hours = 0;
    try {
      for (let i = 0; i < days.length; i += REBUILD_BATCH_DAYS) {
        if (i > 0 && (performance.now() - started >= budgetMs || stop())) break;
        const part = days.slice(i, i + REBUILD_BATCH_DAYS).flat();
        rows += locked(() => this.rebuild(part));
        hours += part.length;
      }
    } finally {
      this.journalMonths.clear();
    }
    const months = this.rebuildReadyMonths(
      from,
      to,
      locked,
      () => performance.now() - started < budgetMs && !stop(),
    );
    return { hours, rows, months, remaining: this.countDirty(from, to) };
  }

  dirtyHours(startMs: number, endMs: number): number[] {
    return (
      this.s.dirtyIn.all(Math.floor(startMs / HOUR), Math.ceil(endMs / HOUR)) as { hour: number }[]
    ).map((r) => r.hour);
  }

  /** Dirty hours in [startMs, endMs): what an answer over that range has not folded in yet. */
  countDirty(startMs: number, endMs: number): number {
    return (this.s.countDirty.get(Math.floor(startMs / HOUR), Math.ceil(endMs / HOUR)) as { n: number }).n;
  }

  /**
   * Rebuilds the given hours (and the days they touch) in one transaction; returns rows read. Only inside
   * rebuildDirty, which lets the journal's months it read go once it ends.
   */
  private rebuild(hours: readonly number[], now = Date.now()): number {
    let rows = 0;
    this.db
      .transaction(() => {
        const days = new Set<number>();
        const watermark = (this.s.watermark.get() as { pk: number }).pk;
        // where the journal holds every order, the days' orders come from its blocks (src/storage/journal-days.ts)
        const journal = journalHoldsEveryOrder(this.db)
          ? this.journalMonths.days(
              this.db,
              new Set(hours.map((hour) => Math.floor((hour * HOUR) / DAY))),
              new Set(hours),
              watermark,
            )
          : null;
        // another thread may have rebuilt some of them since they were listed: skip those
        for (const hour of hours) {
          if (!this.s.isDirty.get(hour)) continue;
          const groups = new Map<string, SalesAggregate>();
          const orders = journal
            ? journal.hourOrders(hour)
            : (this.s.hourOrders.iterate(hour * HOUR, (hour + 1) * HOUR, watermark) as IterableIterator<{
                status: string;
                customer_pk: number;
                total_cents: number;
                units: number | null;
              }>);
          for (const r of orders) {
            rows++;
            for (const key of rollupStatusKeys(r.status))
              aggregateFor(groups, key).addOrder(r.customer_pk, r.total_cents, r.units ?? 0);
          }
          this.s.deleteHour.run(hour);
          this.s.deleteHourAnswers.run(hour);
          this.store('hour', hour, groups, now);
          this.s.clean.run(hour);
          days.add(Math.floor((hour * HOUR) / DAY));
        }
        const months = new Set<number>();
        for (const day of days) {
          this.rebuildDaily(day, now);
          this.rebuildDayLines(day, watermark, journal);
          months.add(monthOfDay(day));
        }
        // a rebuilt day changed its month: merged again now if it was the month's last dirty day
        for (const month of months) {
          this.s.markMonth.run(month);
          this.rebuildMonthIfReady(month);
        }
      })
      .immediate();
    return rows;
  }
}

/** A stored row (if any) with a delta merged in: the row's sums and structures plus the delta's. */
function mergedWith(stored: AggregateRow | undefined, delta: SalesAggregate): SalesAggregate {
  const merged = new SalesAggregate();
  if (stored) merged.mergeRow(stored);
  merged.mergeRow({ ...delta.toRow(), order_value_cents: delta.orderValue });
  return merged;
}

function splitKey(key: string): [number, string] {
  const tab = key.indexOf('\t');
  return [Number(key.slice(0, tab)), key.slice(tab + 1)];
}

/** The items of an iterable, each shown to `see` on its way through. */
function* tapped<T>(items: Iterable<T>, see: (item: T) => void): Generator<T> {
  for (const item of items) {
    see(item);
    yield item;
  }
}

function memo<K, V>(f: (k: K) => V): (k: K) => V {
  const seen = new Map<K, V>();
  return (k) => {
    if (!seen.has(k)) seen.set(k, f(k));
    return seen.get(k)!;
  };
}
