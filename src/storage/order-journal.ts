/**
 * The order journal (sql/shard/020): every order as it was written, in columnar blocks appended by the
 * transaction that inserts the orders, from the rows it has in memory. Each block is a line block
 * (src/storage/line-blocks.ts: order_pk, customer, total, status and the lines) plus the orders' created_at
 * as f64, so a scan decodes it by taking views of its bytes: a pass over every order and line of a shard
 * without handing a row per order to JavaScript, and current the moment the orders commit, whatever the
 * rollups still have to fold in or rebuild.
 *
 * Each block holds orders of one month of created_at (`month`, migration 021), so a read by time reads its
 * range's months only; blocks are keyed by their first order_pk, never overlap within a month, and stay
 * below 64 KiB (JOURNAL_BLOCK_BYTES). A write appends its orders as blocks by month, each month's first
 * grown into that month's newest block while both together stay within that size (a trickle of one-order
 * requests would otherwise leave a row per order): at most one block's worth a month is rewritten per
 * write. The journal holds every order from
 * `order_journal_start.from_pk` on; older orders (from before the migration) are read from the tables,
 * until `journalOlderOrders` takes them in, a chunk at a time, downwards.
 */
import type { Statement } from 'better-sqlite3';
import { monthOfDay } from '../domain/months.js';
import { DAY, type SalesRequest } from '../domain/sales.js';
import { youngGarbageCollector } from '../worker/young-garbage.js';
import {
  decodeLineBlock,
  type Ids,
  LINE_BLOCK_HEADER,
  type LineBlock,
  LineBlockWriter,
  lineBlockBytes,
  statusCode,
} from './line-blocks.js';
import {
  CREATED_ONLY_SQL,
  decodeOrderColumns,
  isCreatedOnly,
  type OrderColumns,
  OrderColumnsWriter,
  orderColumnsBytes,
  orderColumnsOfLineBlock,
} from './order-columns.js';
import type { Db } from './sqlite.js';

/**
 * A block is closed once its bytes reach this (its last order, at most 1,000 lines, adds up to ~20 KB):
 * so every stored block stays below 64 KiB, the size from which glibc maps fresh pages for an allocation
 * instead of reusing its heap under `npm start`'s MALLOC_MMAP_THRESHOLD_. SQLite and better-sqlite3 each
 * allocate a read BLOB's size; mapped, every block read costs page faults and an unmap that stops every
 * thread of the process: two workers walking a year of 1M orders in 150-byte blocks took 290-350 ms, the
 * same with the threshold at 4 MiB 175-215 ms (`perf/first-read`'s shape, 2026-12-01).
 */
export const JOURNAL_BLOCK_BYTES = 40 * 1024;

/** Orders `journalOlderOrders` takes in per transaction by default. */
const OLDER_CHUNK_ORDERS = 65_536;

/** A decoded journal block: the line block's columns and each order's created_at (epoch ms). */
export interface JournalBlock extends LineBlock {
  createdAt: Float64Array;
}

/** Collects orders and their lines, then encodes them as one journal block. */
export class JournalBlockWriter {
  private readonly lineWriter = new LineBlockWriter();
  private readonly columns = new OrderColumnsWriter();
  private firstPk = Number.POSITIVE_INFINITY;
  private lastPk = Number.NEGATIVE_INFINITY;

  /** `month`: the epoch month every order of the block was created in (null: any, the first layout) */
  constructor(readonly month: number | null = null) {}

  get orders(): number {
    return this.columns.orders;
  }

  /** An order; its lines follow with `line`. */
  order(pk: number, customerPk: number, totalCents: number, status: string, createdAt: number): void {
    this.orderCoded(pk, customerPk, totalCents, statusCode(status), createdAt);
  }

  /** The same with its status as a code (`statusCode`). */
  orderCoded(pk: number, customerPk: number, totalCents: number, status: number, createdAt: number): void {
    this.lineWriter.startOrder(pk, customerPk, totalCents, status);
    this.columns.order(customerPk, totalCents, status, createdAt);
    if (pk < this.firstPk) this.firstPk = pk;
    if (pk > this.lastPk) this.lastPk = pk;
  }

  line(productId: number, quantity: number, unitPriceCents: number): void {
    this.lineWriter.addLine(productId, quantity, unitPriceCents);
    this.columns.line(quantity);
  }

  /** Every order of a decoded block, in its order (growing the newest block). */
  addBlock(b: JournalBlock): void {
    copyOrders(b, this);
  }

  get lines(): number {
    return this.lineWriter.lines;
  }

  /** The size of the block's line-block BLOB (its order columns add ~25 bytes an order). */
  get bytes(): number {
    return this.lineWriter.bytes;
  }

  /**
   * The row to store: its key range, counts, and both columns' bytes, written into `scratch` where it is
   * large enough (bound and stored at once: SQLite copies the bytes, so the scratch can be reused).
   */
  encode(scratch?: EncodeScratch): {
    firstPk: number;
    lastPk: number;
    orders: number;
    lines: number;
    month: number | null;
    created: Uint8Array;
    block: Uint8Array;
  } {
    return {
      month: this.month,
      firstPk: this.firstPk,
      lastPk: this.lastPk,
      orders: this.orders,
      lines: this.lineWriter.lines,
      created: this.columns.encode(scratch?.created),
      block: this.lineWriter.encode(scratch?.block),
    };
  }
}

/**
 * Orders written together, as blocks of one month of created_at each, of at most about JOURNAL_BLOCK_BYTES:
 * a month's blocks in order_pk order.
 */
export class JournalBlockSeries {
  private readonly byMonth = new Map<number, JournalBlockWriter[]>();
  private current: JournalBlockWriter | null = null;
  private readonly monthOf = monthOfTime();

  /** An order (into its month's block, a new one when that is full); its lines follow with `line`. */
  order(pk: number, customerPk: number, totalCents: number, status: string, createdAt: number): void {
    this.orderCoded(pk, customerPk, totalCents, statusCode(status), createdAt);
  }

  /** The same with its status as a code (`statusCode`). */
  orderCoded(pk: number, customerPk: number, totalCents: number, status: number, createdAt: number): void {
    const month = this.monthOf(createdAt);
    let blocks = this.byMonth.get(month);
    if (!blocks) {
      blocks = [new JournalBlockWriter(month)];
      this.byMonth.set(month, blocks);
    }
    let w = blocks[blocks.length - 1]!;
    if (w.bytes >= JOURNAL_BLOCK_BYTES) {
      w = new JournalBlockWriter(month);
      blocks.push(w);
    }
    w.orderCoded(pk, customerPk, totalCents, status, createdAt);
    this.current = w;
  }

  line(productId: number, quantity: number, unitPriceCents: number): void {
    this.current!.line(productId, quantity, unitPriceCents);
  }

  /** Every order of a decoded block, in its order (rewriting an old block a month a block). */
  addBlock(b: JournalBlock): void {
    copyOrders(b, this);
  }

  /** Each month's blocks, in order_pk order. */
  months(): ReadonlyMap<number, readonly JournalBlockWriter[]> {
    return this.byMonth;
  }

  /** Every block (none for a series without any order). */
  filled(): JournalBlockWriter[] {
    return [...this.byMonth.values()].flat();
  }
}

/** What a decoded block's orders are copied into: an order with its status code, then its lines. */
interface CodedOrders {
  orderCoded(pk: number, customerPk: number, totalCents: number, status: number, createdAt: number): void;
  line(productId: number, quantity: number, unitPriceCents: number): void;
}

/** Every order of a decoded block, in its order, with its lines, into `into`. */
function copyOrders(b: JournalBlock, into: CodedOrders): void {
  for (let o = 0, line = 0; o < b.orders; o++) {
    into.orderCoded(b.orderPk[o]!, b.customerPk[o]!, b.total[o]!, b.status[o]!, b.createdAt[o]!);
    for (; line < b.lineEnd[o]!; line++) into.line(b.productId[line]!, b.quantity[line]!, b.unitPrice[line]!);
  }
}

/** created_at (epoch ms) -> its epoch month (UTC), the last day's answer kept: orders come in runs of days. */
function monthOfTime(): (createdAt: number) => number {
  let day = Number.NaN;
  let month = 0;
  return (createdAt) => {
    const d = Math.floor(createdAt / DAY);
    if (d !== day) {
      day = d;
      month = monthOfDay(d);
    }
    return month;
  };
}

/**
 * Reused arrays a writer encodes its blocks into: each write's block would otherwise be ~150 KB of
 * garbage outside V8's heap, which it collects only after ~64 MB of such memory per thread.
 */
export class EncodeScratch {
  created = new Uint8Array(1 << 17);
  block = new Uint8Array(1 << 20);

  /** Large enough for `orders` and `lines` (grown to twice what is asked when not). */
  fit(orders: number, lines: number): this {
    const columns = orderColumnsBytes(orders); // with wide ids: enough either way
    if (this.created.byteLength < columns) this.created = new Uint8Array(2 * columns);
    const bytes = lineBlockBytes(orders, lines);
    if (this.block.byteLength < bytes) this.block = new Uint8Array(2 * bytes);
    return this;
  }
}

/** A stored block's columns, as views of its bytes (copied first where not 8-byte aligned). */
export function decodeJournalBlock(created: Uint8Array, block: Uint8Array): JournalBlock {
  const b = decodeLineBlock(block);
  return { ...b, createdAt: createdAtOf(created, b.orders) };
}

/** Each order's created_at from a stored `created` BLOB of either version. */
function createdAtOf(created: Uint8Array, orders: number): Float64Array {
  if (!isCreatedOnly(created, orders)) return decodeOrderColumns(created).createdAt;
  const aligned = created.byteOffset % 8 === 0 ? created : new Uint8Array(created);
  return new Float64Array(aligned.buffer, aligned.byteOffset, orders);
}

/** The first order_pk the journal holds every order from (older ones are only in the tables). */
export function journalFrom(db: Db): number {
  const from = db.prepare('SELECT from_pk FROM order_journal_start WHERE id = 1').pluck().get();
  return typeof from === 'number' ? from : Number.MAX_SAFE_INTEGER;
}

/**
 * Where a read's orders start coming from the journal: its start, or nowhere for `source=orders` (the
 * tables alone: the independent check of what the journal holds).
 */
export function journalStartFor(db: Db, source: SalesRequest['source']): number {
  return source === 'orders' ? Number.MAX_SAFE_INTEGER : journalFrom(db);
}

/** Whether the journal holds every order of the shard (a shard created since migration 020, or taken in). */
export function journalHoldsEveryOrder(db: Db): boolean {
  const oldest = db.prepare('SELECT min(order_pk) FROM orders').pluck().get() as number | null;
  return journalFrom(db) <= (oldest ?? Number.MAX_SAFE_INTEGER);
}

/** Whether the journal holds what the tables hold from its start on (`tenant check`). */
export interface JournalCheck {
  ok: boolean;
  from_pk: number;
  /** orders from the journal's start on: in the tables, in the journal */
  orders: number;
  journalled: number;
}

/**
 * Counts the orders from the journal's start on in the tables and in the journal's blocks: a journal that
 * lost or doubled an order (a bug: both are written in one transaction) answers exact reads wrongly.
 */
export function checkJournal(db: Db): JournalCheck {
  return db.transaction(() => {
    const from = journalFrom(db);
    const orders = db.prepare('SELECT count(*) FROM orders WHERE order_pk >= ?').pluck().get(from) as number;
    const journalled =
      (db.prepare('SELECT sum(orders) FROM order_journal WHERE first_pk >= ?').pluck().get(from) as
        | number
        | null) ?? 0;
    return { ok: orders === journalled, from_pk: from, orders, journalled };
  })();
}

/**
 * The blocks holding orders from `fromPk` on (one may start below it: callers filter by each order's pk;
 * none when no order from `fromPk` on is journalled; 0 for every block): every such block in order of its
 * first order_pk, or, given the range the caller wants orders created in, only the blocks of its months
 * (and those of no single month), as `journalOrderColumns` reads them: a month by category reads a twelfth
 * of a year's journal, a rollup rebuild of some days the blocks of their months.
 * Each block's Buffers are dead once the caller moves on: collected as it goes.
 */
export function* journalBlocks(
  db: Db,
  fromPk: number,
  range?: { start: number; end: number },
): Generator<JournalBlock> {
  const dropped = youngGarbageCollector();
  const rows = range
    ? rowsOfMonths(db, 'created, block', 'last_pk >= ?', [fromPk], range)
    : db
        .prepare('SELECT created, block FROM order_journal WHERE last_pk >= ? ORDER BY first_pk')
        .raw()
        .iterate(fromPk);
  for (const [created, block] of rows as Iterable<[Uint8Array, Uint8Array]>) {
    yield decodeJournalBlock(created, block);
    dropped(created.byteLength + block.byteLength);
  }
}

/** A block's order columns, and each order's order_pk where the block starts below the read's start. */
export interface JournalOrders {
  columns: OrderColumns;
  /** null: every order of the block is from the start on */
  orderPk: Ids | null;
  /**
   * The epoch month every order of the block was created in, or null for a block from before blocks held
   * one month. Blocks of no month come first, then the months' in month order.
   */
  month: number | null;
}

/**
 * The order columns of the blocks holding orders from `fromPk` on and created in the months of `range`:
 * what a read by time needs, without the lines (their BLOB is read only for a block of the first layout,
 * or one that starts below `fromPk`), about a third of the journal's bytes, of the range's months only
 * (blocks from before they were a month each are read for any range). Collected as it goes, as
 * `journalBlocks`. Both queries go through the month index: `month`, added after the BLOBs, is never
 * read from a row.
 */
export function* journalOrderColumns(
  db: Db,
  fromPk: number,
  range: { start: number; end: number },
): Generator<JournalOrders> {
  const dropped = youngGarbageCollector(2 << 20);
  // month is read from the index the query goes through, not from the row (it follows the BLOBs)
  const columns = `month, orders, created, CASE WHEN ${CREATED_ONLY_SQL} OR first_pk < ? THEN block END AS block`;
  for (const [month, orders, created, block] of rowsOfMonths(db, columns, 'last_pk >= ?', [fromPk], range, [
    fromPk,
  ]) as Iterable<[number | null, number, Uint8Array, Uint8Array | null]>) {
    if (block === null) yield { columns: decodeOrderColumns(created), orderPk: null, month };
    else {
      const b = decodeLineBlock(block);
      yield {
        columns: isCreatedOnly(created, orders)
          ? orderColumnsOfLineBlock(createdAtOf(created, orders), b)
          : decodeOrderColumns(created),
        orderPk: b.orderPk,
        month,
      };
    }
    dropped(created.byteLength + (block?.byteLength ?? 0));
  }
}

/**
 * Raw rows of `columns` of the blocks of no single month, then of the months of `range` in month order, both
 * through the month index (`month`, added after the BLOBs, is never read from a row). `before` binds the columns'
 * parameters, `params` the condition's.
 */
function* rowsOfMonths(
  db: Db,
  columns: string,
  condition: string,
  params: readonly unknown[],
  range: { start: number; end: number },
  before: readonly unknown[] = [],
): Generator<unknown[]> {
  const anyMonth = db
    .prepare(`SELECT ${columns} FROM order_journal WHERE month IS NULL AND ${condition}`)
    .raw();
  const inMonths = db
    .prepare(
      `SELECT ${columns} FROM order_journal WHERE month BETWEEN ? AND ? AND ${condition} ORDER BY month, first_pk`,
    )
    .raw();
  const first = monthOfDay(Math.floor(range.start / DAY));
  const last = monthOfDay(Math.floor((range.end - 1) / DAY));
  yield* anyMonth.iterate(...before, ...params) as Iterable<unknown[]>;
  yield* inMonths.iterate(...before, first, last, ...params) as Iterable<unknown[]>;
}

/** Appends blocks inside the writer's transaction (OrderWriter.write). */
export class OrderJournal {
  private readonly newest: Statement;
  private readonly put: Statement;
  private readonly scratch = new EncodeScratch();

  constructor(db: Db) {
    this.newest = db.prepare(
      `SELECT length(block) AS bytes, created, block FROM order_journal
        WHERE month = ? ORDER BY first_pk DESC LIMIT 1`,
    );
    this.put = db.prepare(putBlockSql('INSERT OR REPLACE'));
  }

  /**
   * The series' blocks, each month's first one stored with the newest block of that month when both
   * together stay within JOURNAL_BLOCK_BYTES (a trickle of one-order writes then leaves a block per ~500
   * orders of a month).
   */
  append(adding: JournalBlockSeries): void {
    for (const [month, written] of adding.months()) {
      const blocks = [...written];
      const first = blocks[0]!;
      if (first.bytes < JOURNAL_BLOCK_BYTES) {
        const newest = this.newest.get(month) as
          | { bytes: number; created: Uint8Array; block: Uint8Array }
          | undefined;
        // (one header less; ids widened where one block's are wide and the other's not: still far below 64 KiB)
        if (newest && newest.bytes + first.bytes - LINE_BLOCK_HEADER <= JOURNAL_BLOCK_BYTES) {
          const grown = new JournalBlockWriter(month);
          grown.addBlock(decodeJournalBlock(newest.created, newest.block));
          const e = first.encode();
          grown.addBlock(decodeJournalBlock(e.created, e.block));
          blocks[0] = grown;
        }
      }
      for (const b of blocks) store(this.put, b, this.scratch.fit(b.orders, b.lines));
    }
  }
}

/** The statement that stores a block (`INSERT`, or `INSERT OR REPLACE` for a grown one). */
function putBlockSql(verb: 'INSERT' | 'INSERT OR REPLACE'): string {
  return `${verb} INTO order_journal (first_pk, last_pk, orders, lines, month, created, block)
          VALUES (?, ?, ?, ?, ?, ?, ?)`;
}

function store(put: Statement, w: JournalBlockWriter, scratch?: EncodeScratch): void {
  const e = w.encode(scratch);
  put.run(e.firstPk, e.lastPk, e.orders, e.lines, e.month, e.created, e.block);
}

/**
 * Takes up to `maxOrders` orders below the journal's start into it (read from the tables, in order_pk
 * order), in one transaction, and moves the start down past them. Returns how far the start moved, in
 * order_pks (0: the journal holds every order). The caller holds the shard's write lock.
 */
export function journalOlderOrders(db: Db, maxOrders = OLDER_CHUNK_ORDERS): number {
  return db
    .transaction(() => {
      const from = journalFrom(db);
      if (from <= 1) return 0;
      const low = Math.max(1, from - maxOrders);
      const rows = db
        .prepare(
          `SELECT o.order_pk, o.customer_pk, o.total_cents, o.status, o.created_at,
                  i.product_id, i.quantity, i.unit_price_cents
             FROM orders o LEFT JOIN order_items i ON i.order_pk = o.order_pk
            WHERE o.order_pk >= ? AND o.order_pk < ? ORDER BY o.order_pk, i.line_no`,
        )
        .raw()
        .iterate(low, from) as IterableIterator<
        [number, number, number, string, number, number | null, number, number]
      >;
      const put = db.prepare(putBlockSql('INSERT'));
      // the blocks are stored once the read is done: a connection cannot write while it iterates
      const series = new JournalBlockSeries();
      let lastPk = -1;
      for (const [pk, customer, total, status, created, product, quantity, price] of rows) {
        if (pk !== lastPk) {
          series.order(pk, customer, total, status, created);
          lastPk = pk;
        }
        if (product !== null) series.line(product, quantity, price);
      }
      for (const w of series.filled()) store(put, w);
      db.prepare('UPDATE order_journal_start SET from_pk = ? WHERE id = 1').run(low);
      return from - low;
    })
    .immediate();
}

/**
 * Rewrites up to `maxBlocks` blocks from before migration 021 (`month` NULL), in one transaction: their
 * orders gathered into blocks of one month each, JOURNAL_BLOCK_BYTES at most, every order column (blocks
 * from the journal's first weeks were larger than 64 KiB, and their `created` held created_at alone). The
 * same orders. Returns how many were rewritten (0: none is left). The caller holds the shard's write lock.
 */
export function rewriteOldJournalBlocks(db: Db, maxBlocks = 64): number {
  return db
    .transaction(() => {
      const old = db
        .prepare(
          'SELECT first_pk, created, block FROM order_journal WHERE month IS NULL ORDER BY first_pk LIMIT ?',
        )
        .all(maxBlocks) as { first_pk: number; created: Uint8Array; block: Uint8Array }[];
      const remove = db.prepare('DELETE FROM order_journal WHERE first_pk = ?');
      const series = new JournalBlockSeries();
      for (const row of old) {
        series.addBlock(decodeJournalBlock(row.created, row.block));
        remove.run(row.first_pk);
      }
      const put = db.prepare(putBlockSql('INSERT'));
      for (const w of series.filled()) store(put, w);
      return old.length;
    })
    .immediate();
}

/** One step of completing a shard's journal: how far its start moved, old blocks rewritten, whether it is whole. */
export interface JournalBackfill {
  moved: number;
  rewritten: number;
  done: boolean;
}

/** Old blocks rewritten per step. */
const REWRITE_BLOCKS_PER_STEP = 64;

/**
 * Takes up to `maxOrders` older orders in (`journalOlderOrders`); once none is left, rewrites a batch of
 * old blocks (`rewriteOldJournalBlocks`). Done when the journal holds every order in current blocks.
 * The caller holds the shard's write lock.
 */
export function journalBackfillStep(db: Db, maxOrders: number): JournalBackfill {
  const moved = journalOlderOrders(db, maxOrders);
  const whole = journalFrom(db) <= 1;
  const rewritten = whole ? rewriteOldJournalBlocks(db, REWRITE_BLOCKS_PER_STEP) : 0;
  return { moved, rewritten, done: whole && rewritten < REWRITE_BLOCKS_PER_STEP };
}
