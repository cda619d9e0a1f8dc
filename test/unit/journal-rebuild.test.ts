import { describe, expect, it } from 'vitest';
import { journalHoldsEveryOrder } from '../../src/storage/order-journal.js';
import { ALL_TIME, RollupBuilder } from '../../src/storage/rollups.js';
import { makeOrders } from '../helpers/data.js';
import { testShard } from '../helpers/shard.js';

const TABLES = [
  'rollup_hourly',
  'rollup_daily',
  'rollup_daily_category',
  'rollup_monthly_category',
  'rollup_hourly_answer',
  'rollup_daily_answer',
  'order_line_blocks',
];

describe('a rollup rebuild from the order journal', () => {
  const { db, write } = testShard('journal-rebuild');
  // 4,000 orders over three months, written in no order of time, every status, several lines
  const start = Date.UTC(2026, 0, 1);
  const orders = makeOrders(4000, 'RB').map((o, i) => ({
    ...o,
    created_at: new Date(start + ((i * 7919) % 4000) * 1_950_000 + (i % 17) * 1000).toISOString(),
  }));
  write(orders);
  const builder = new RollupBuilder(db);

  /** Every pre-aggregate row (times of writing left out), sorted. */
  function snapshot(): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const table of TABLES)
      out[table] = (db.prepare(`SELECT * FROM ${table}`).all() as Record<string, unknown>[])
        .map((row) =>
          JSON.stringify(
            Object.entries(row).filter(([k]) => !k.endsWith('_at')),
            (_k, v) => (v instanceof Uint8Array ? Buffer.from(v).toString('base64') : v),
          ),
        )
        .sort();
    return out;
  }

  function rebuildAll(): Record<string, string[]> {
    builder.markAllDirty();
    builder.rebuildDirty(ALL_TIME.start, ALL_TIME.end);
    return snapshot();
  }

  it('writes byte for byte what a rebuild from the tables writes, and reads no table row to do it', () => {
    expect(journalHoldsEveryOrder(db)).toBe(true);
    const fromJournal = rebuildAll();
    expect(fromJournal.rollup_hourly!.length).toBeGreaterThan(1000);
    expect(fromJournal.order_line_blocks!.length).toBeGreaterThan(60);
    // the journal starting past the first order: the rebuild reads the tables
    const setStart = db.prepare('UPDATE order_journal_start SET from_pk = ? WHERE id = 1');
    setStart.run(2);
    try {
      expect(journalHoldsEveryOrder(db)).toBe(false);
      expect(rebuildAll()).toEqual(fromJournal);
    } finally {
      setStart.run(1);
    }
    // with the tables' lines gone (inside a transaction undone after), the journal still rebuilds the same
    expect(() =>
      db.transaction(() => {
        db.prepare('DELETE FROM order_items').run();
        expect(rebuildAll()).toEqual(fromJournal);
        throw new Error('undone');
      })(),
    ).toThrow('undone');
  });

  it('reads a month once for its batches, and again once new orders were folded in between two batches', () => {
    // rebuilt newest day first, two days a transaction: between the second and third batch new orders land
    // in a day of the same month not rebuilt yet, and are folded in (the watermark moves). The batches after
    // must read the month again: the result is what a rebuild of everything from scratch gives
    builder.markAllDirty();
    const newest = Math.max(...orders.map((o) => Date.parse(o.created_at)));
    const late = makeOrders(40, 'RB-late', 7).map((o, i) => ({
      ...o,
      created_at: new Date(newest - 6 * 86_400_000 + i * 60_000).toISOString(),
    }));
    let batches = 0;
    builder.rebuildDirty(ALL_TIME.start, ALL_TIME.end, {
      locked: (rebuild) => {
        if (++batches === 3) {
          write(late);
          builder.applyPending();
        }
        return rebuild();
      },
    });
    expect(batches).toBeGreaterThan(3);
    builder.rebuildDirty(ALL_TIME.start, ALL_TIME.end); // what folding them in left dirty, if anything
    const once = snapshot();
    expect(rebuildAll()).toEqual(once);
    expect(once.rollup_hourly!.join()).toContain(
      String(Math.floor(Date.parse(late[0]!.created_at) / 3_600_000)),
    );
  });
});
