import { describe, expect, it } from 'vitest';
import { ORDER_STATUSES } from '../../src/domain/vocabulary.js';
import {
  checkJournal,
  decodeJournalBlock,
  JOURNAL_BLOCK_BYTES,
  JournalBlockWriter,
  journalBackfillStep,
  journalBlocks,
  journalFrom,
  journalOlderOrders,
  journalOrderColumns,
  rewriteOldJournalBlocks,
} from '../../src/storage/order-journal.js';
import { makeOrders } from '../helpers/data.js';
import { forgetJournal, testShard } from '../helpers/shard.js';

type Row = [number, number, number, string, number, number[]]; // pk, customer, total, status, created, lines

interface StoredBlock {
  first_pk: number;
  last_pk: number;
  orders: number;
  lines: number;
  bytes: number;
  month: number | null;
}

/** Every stored block's order_pk range, sizes and month, in order of month, then first order_pk. */
function storedBlocks(db: ReturnType<typeof testShard>['db']): StoredBlock[] {
  return db
    .prepare(
      `SELECT first_pk, last_pk, orders, lines, length(block) AS bytes, month FROM order_journal
        ORDER BY month, first_pk`,
    )
    .all() as StoredBlock[];
}

/** Within a month, blocks never overlap: each starts past the one before it ends. */
function expectMonthsApart(blocks: readonly StoredBlock[]): void {
  for (let i = 1; i < blocks.length; i++)
    if (blocks[i]!.month === blocks[i - 1]!.month)
      expect(blocks[i]!.first_pk).toBeGreaterThan(blocks[i - 1]!.last_pk);
}

/** Below glibc's mmap threshold as npm start sets it: a read's BLOB comes from the heap, not fresh pages. */
const MMAP_THRESHOLD = 64 * 1024;

/** Every order the tables hold from `fromPk` on, with its lines (product, quantity, price, ...). */
function tableOrders(db: ReturnType<typeof testShard>['db'], fromPk = 1): Row[] {
  const rows = db
    .prepare(
      `SELECT o.order_pk, o.customer_pk, o.total_cents, o.status, o.created_at,
              json_group_array(json_array(i.product_id, i.quantity, i.unit_price_cents)) AS lines
         FROM orders o JOIN order_items i ON i.order_pk = o.order_pk
        WHERE o.order_pk >= ? GROUP BY o.order_pk ORDER BY o.order_pk`,
    )
    .raw()
    .all(fromPk) as [number, number, number, string, number, string][];
  return rows.map(([pk, c, t, s, at, lines]) => [pk, c, t, s, at, (JSON.parse(lines) as number[][]).flat()]);
}

/** Every order the journal holds from `fromPk` on, decoded, in order_pk order. */
function journalOrders(db: ReturnType<typeof testShard>['db'], fromPk = 1): Row[] {
  const out: Row[] = [];
  for (const b of journalBlocks(db, fromPk))
    for (let o = 0, first = 0; o < b.orders; o++) {
      const end = b.lineEnd[o]!;
      const lines: number[] = [];
      for (let i = first; i < end; i++) lines.push(b.productId[i]!, b.quantity[i]!, b.unitPrice[i]!);
      if (b.orderPk[o]! >= fromPk)
        out.push([
          b.orderPk[o]!,
          b.customerPk[o]!,
          b.total[o]!,
          ORDER_STATUSES[b.status[o]!]!,
          b.createdAt[o]!,
          lines,
        ]);
      first = end;
    }
  return out.sort((a, b) => a[0] - b[0]);
}

describe('the order journal', () => {
  const { db, write } = testShard('order-journal');

  it('holds exactly the orders a write inserted, as the tables hold them: not duplicates, not rejected rows', () => {
    const orders = makeOrders(3000, 'J');
    const outcome = write([
      ...orders,
      orders[5]!, // a duplicate within the batch
      {
        ...orders[6]!,
        order_id: 'J-unknown',
        items: [{ product_id: 999, quantity: 1, unit_price_cents: 1 }],
      },
    ]);
    expect(outcome.inserted).toBe(3000);
    write(orders.slice(0, 10)); // a retry: nothing new
    expect(journalFrom(db)).toBe(1);
    expect(journalOrders(db)).toEqual(tableOrders(db));
    expect(journalOrders(db)).toHaveLength(3000);
    // what a read by time needs of each order, without the lines: their quantities summed as units
    expect(columnOrders(db)).toEqual(tableColumns(db));
    // one write, several blocks: each below the mmap threshold, each month's but its last full
    const blocks = storedBlocks(db);
    expect(blocks.length).toBeGreaterThanOrEqual(3);
    for (const b of blocks) expect(b.bytes).toBeLessThan(MMAP_THRESHOLD);
    for (let i = 1; i < blocks.length; i++)
      if (blocks[i]!.month === blocks[i - 1]!.month)
        expect(blocks[i - 1]!.bytes).toBeGreaterThanOrEqual(JOURNAL_BLOCK_BYTES);
    expectMonthsApart(blocks);
  });

  it('keeps a block of orders with a thousand lines each below the mmap threshold', () => {
    const wide = makeOrders(12, 'W').map((o) => ({
      ...o,
      items: Array.from({ length: 1000 }, (_, i) => ({ ...o.items[0]!, quantity: 1 + i })),
    }));
    const before = storedBlocks(db).length;
    expect(write(wide).inserted).toBe(12);
    const added = storedBlocks(db).slice(before);
    expect(added.length).toBeGreaterThan(1);
    for (const b of added) expect(b.bytes).toBeLessThan(MMAP_THRESHOLD);
    expect(journalOrders(db)).toEqual(tableOrders(db));
  });

  it('grows its newest block of the month for small writes, so a trickle of one-order requests leaves few blocks', () => {
    const before = new Set(storedBlocks(db).map((b) => b.first_pk));
    const trickle = makeOrders(2500, 'T').map((o, i) => ({
      ...o,
      order_id: `T-${i}`,
      created_at: '2027-03-10T10:00:00.000Z', // a month no block had
    }));
    for (const o of trickle) write([o]);
    const added = storedBlocks(db).filter((b) => !before.has(b.first_pk));
    expect(new Set(added.map((b) => b.month))).toEqual(new Set([(2027 - 1970) * 12 + 2]));
    const bytes = added.reduce((sum, b) => sum + b.bytes, 0);
    expect(added.length).toBeLessThanOrEqual(Math.ceil(bytes / JOURNAL_BLOCK_BYTES) + 1); // not a row an order
    for (const b of added) expect(b.bytes).toBeLessThan(MMAP_THRESHOLD);
    // a block was closed only when the next order did not fit in it
    for (let i = 1; i < added.length; i++)
      expect(added[i - 1]!.bytes + 16 + 21 + 16 * 3).toBeGreaterThan(JOURNAL_BLOCK_BYTES);
    expectMonthsApart(storedBlocks(db));
    expect(journalOrders(db)).toEqual(tableOrders(db));
  });

  it('keeps each block to one month, and a read by time reads the blocks of its months only', () => {
    // orders spread over four months, in no order of time
    const spread = makeOrders(2000, 'M').map((o, i) => ({
      ...o,
      created_at: new Date(Date.UTC(2028, 0, 1) + ((i * 7919) % 2000) * 5_000_000).toISOString(),
    }));
    write(spread);
    const blocks = storedBlocks(db);
    for (const b of blocks) {
      const months = db
        .prepare(
          `SELECT DISTINCT (CAST(strftime('%Y', created_at / 1000, 'unixepoch') AS INTEGER) - 1970) * 12
                  + CAST(strftime('%m', created_at / 1000, 'unixepoch') AS INTEGER) - 1
             FROM orders WHERE order_pk IN (SELECT value FROM json_each(?))`,
        )
        .pluck()
        .all(JSON.stringify(journalOrdersOf(db, b.first_pk)));
      expect(months).toEqual([b.month]);
    }
    const february = { start: Date.UTC(2028, 1, 10), end: Date.UTC(2028, 1, 11) };
    const read = [...journalOrderColumns(db, 1, february)];
    const februaryBlocks = blocks.filter((b) => b.month === (2028 - 1970) * 12 + 1);
    expect(read).toHaveLength(februaryBlocks.length);
    expect(read.reduce((n, j) => n + j.columns.orders, 0)).toBe(
      db
        .prepare(`SELECT count(*) FROM orders WHERE created_at >= ? AND created_at < ?`)
        .pluck()
        .get(Date.UTC(2028, 1, 1), Date.UTC(2028, 2, 1)),
    );
    expect(read.every((j) => j.month === (2028 - 1970) * 12 + 1)).toBe(true);
    // the lines' reader too (categories and rankings), from a start
    const lines = [...journalBlocks(db, 1, february)];
    expect(lines).toHaveLength(februaryBlocks.length);
    expect(lines.reduce((n, b) => n + b.orders, 0)).toBe(read.reduce((n, j) => n + j.columns.orders, 0));
    for (const b of lines) for (const t of b.createdAt) expect(new Date(t).getUTCMonth()).toBe(1);
    // a range of three months: their blocks in month order
    const months = [
      ...journalOrderColumns(db, 1, { start: Date.UTC(2028, 0, 20), end: Date.UTC(2028, 2, 2) }),
    ];
    const labels = months.map((j) => j.month!);
    expect(new Set(labels)).toEqual(new Set([0, 1, 2].map((m) => (2028 - 1970) * 12 + m)));
    expect(labels).toEqual([...labels].sort((a, b) => a - b));
    expect(columnOrders(db)).toEqual(tableColumns(db));
  });

  it('keeps nothing of a write whose transaction rolled back', () => {
    const count = () => db.prepare('SELECT count(*) FROM order_journal').pluck().get() as number;
    const before = journalOrders(db).length;
    const blocks = count();
    expect(() =>
      db.transaction(() => {
        write(makeOrders(50, 'R'));
        throw new Error('rolled back');
      })(),
    ).toThrow('rolled back');
    expect(journalOrders(db)).toHaveLength(before);
    expect(count()).toBe(blocks);
  });

  it('is checked against the tables: a lost block shows', () => {
    const check = checkJournal(db);
    expect(check).toMatchObject({ ok: true, from_pk: 1 });
    expect(check.journalled).toBe(check.orders);
    const lost = db.prepare('SELECT first_pk, orders FROM order_journal ORDER BY first_pk LIMIT 1').get() as {
      first_pk: number;
      orders: number;
    };
    expect(() =>
      db.transaction(() => {
        db.prepare('DELETE FROM order_journal WHERE first_pk = ?').run(lost.first_pk);
        expect(checkJournal(db)).toMatchObject({ ok: false, journalled: check.orders - lost.orders });
        throw new Error('undone');
      })(),
    ).toThrow('undone');
    expect(checkJournal(db).ok).toBe(true);
  });

  it('reads from a start: the block holding it and every later one', () => {
    const all = journalOrders(db);
    const from = all[1234]![0];
    expect(journalOrders(db, from)).toEqual(all.slice(1234));
  });
});

describe('a large shard from before the journal', () => {
  const { db, write } = testShard('order-journal-large');
  write(makeOrders(9000, 'L'));
  forgetJournal(db);

  it('takes a chunk larger than one block in (blocks are stored once the read of the chunk is done)', () => {
    expect(journalOlderOrders(db, 9000)).toBe(9000);
    expect(journalFrom(db)).toBe(1);
    const blocks = storedBlocks(db);
    expect(blocks.length).toBeGreaterThan(10); // ~600 orders a block
    for (const b of blocks) expect(b.bytes).toBeLessThan(MMAP_THRESHOLD);
    expect(journalOrders(db)).toEqual(tableOrders(db));
  });
});

describe('a shard from before the journal', () => {
  const { db, write } = testShard('order-journal-older');
  write(makeOrders(2000, 'O'));
  // what migration 020 leaves on a shard that had orders: an empty journal starting past them
  forgetJournal(db);

  it('journals new orders only, then takes the older ones in, downwards, a chunk at a time', () => {
    write(makeOrders(300, 'N'));
    expect(journalFrom(db)).toBe(2001);
    expect(journalOrders(db)).toEqual(tableOrders(db, 2001));
    let moves = 0;
    for (let moved = journalOlderOrders(db, 700); moved > 0; moved = journalOlderOrders(db, 700)) moves++;
    expect(moves).toBe(3); // 2000 older orders, 700 a chunk
    expect(journalFrom(db)).toBe(1);
    expect(journalOrders(db)).toEqual(tableOrders(db));
    expect(journalOlderOrders(db)).toBe(0);
  });
});

/** The order_pks of the block whose first order_pk is given. */
function journalOrdersOf(db: ReturnType<typeof testShard>['db'], firstPk: number): number[] {
  const row = db.prepare('SELECT created, block FROM order_journal WHERE first_pk = ?').get(firstPk) as {
    created: Uint8Array;
    block: Uint8Array;
  };
  return [...decodeJournalBlock(row.created, row.block).orderPk];
}

/** Every order's columns as a read by time over all time sees them, from the journal's order columns. */
function columnOrders(db: ReturnType<typeof testShard>['db'], fromPk = 1): number[][] {
  const out: number[][] = [];
  const always = { start: Date.UTC(1970, 0, 1), end: Date.UTC(9999, 0, 1) };
  for (const { columns: c, orderPk } of journalOrderColumns(db, fromPk, always))
    for (let o = 0; o < c.orders; o++)
      if (orderPk === null || orderPk[o]! >= fromPk)
        out.push([c.createdAt[o]!, c.customerPk[o]!, c.total[o]!, c.units[o]!, c.status[o]!]);
  return out.sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!);
}

/** The same from the tables. */
function tableColumns(db: ReturnType<typeof testShard>['db'], fromPk = 1): number[][] {
  const rows = tableOrders(db, fromPk).map(([, customer, total, status, created, lines]) => {
    let units = 0;
    for (let i = 1; i < lines.length; i += 3) units += lines[i]!;
    return [created, customer, total, units, ORDER_STATUSES.indexOf(status as never)];
  });
  return rows.sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!);
}

describe('a journal from its first weeks', () => {
  const { db, write } = testShard('order-journal-first-weeks');
  write(makeOrders(4000, 'U'));
  const current = journalOrders(db);
  // what the journal wrote then: one block per write (here all 4,000 orders: ~280 KB), its `created`
  // BLOB created_at alone (8 bytes an order)
  const whole = new JournalBlockWriter();
  for (const b of journalBlocks(db, 1)) whole.addBlock(b);
  const e = whole.encode();
  const createdOnly = new Float64Array(current.map((r) => r[4]));
  db.prepare('DELETE FROM order_journal').run();
  db.prepare(
    'INSERT INTO order_journal (first_pk, last_pk, orders, lines, created, block) VALUES (?, ?, ?, ?, ?, ?)',
  ).run(e.firstPk, e.lastPk, e.orders, e.lines, new Uint8Array(createdOnly.buffer), e.block); // month NULL

  it('is read as it is until rewritten: every order, its order columns taken from the lines', () => {
    expect(storedBlocks(db)).toHaveLength(1);
    expect(journalOrders(db)).toEqual(current);
    expect(columnOrders(db)).toEqual(tableColumns(db));
    expect(columnOrders(db, 1500)).toEqual(tableColumns(db, 1500));
  });

  it('has its blocks rewritten: below the mmap threshold, every order column, the same orders', () => {
    expect(storedBlocks(db)[0]!.bytes).toBeGreaterThan(2 * MMAP_THRESHOLD);
    expect(journalBackfillStep(db, 1000)).toEqual({ moved: 0, rewritten: 1, done: true });
    const blocks = storedBlocks(db);
    expect(blocks.length).toBeGreaterThan(5);
    for (const b of blocks) expect(b.bytes).toBeLessThan(MMAP_THRESHOLD);
    for (const b of blocks) expect(b.month).not.toBeNull();
    expectMonthsApart(blocks);
    const createdOnlyRows = db
      .prepare('SELECT count(*) FROM order_journal WHERE length(created) = 8 * orders')
      .pluck()
      .get();
    expect(createdOnlyRows).toBe(0);
    expect(journalOrders(db)).toEqual(current);
    expect(columnOrders(db)).toEqual(tableColumns(db));
    expect(checkJournal(db).ok).toBe(true);
    expect(journalBackfillStep(db, 1000)).toEqual({ moved: 0, rewritten: 0, done: true });
    expect(rewriteOldJournalBlocks(db)).toBe(0);
  });
});
