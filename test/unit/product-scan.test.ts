import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import type { SalesRequest } from '../../src/domain/sales.js';
import { categoriesByLines } from '../../src/sales/category-scan.js';
import { exactFromOrders } from '../../src/sales/exact-scan.js';
import { BINNED_RELATIVE_ERROR } from '../../src/sales/key-histograms.js';
import {
  productRanking,
  productsByScan,
  rankedAnswer,
  rankingOnReader,
  type ScanOptions,
  scanProducts,
} from '../../src/sales/product-scan.js';
import { ALL_TIME, BLOCK_PARTS_MAX, DAY_BLOCK_BYTES, RollupBuilder } from '../../src/storage/rollups.js';
import { makeOrders } from '../helpers/data.js';
import { forgetJournal, testShard } from '../helpers/shard.js';

/**
 * Two shards: one whose order journal holds every order (a shard created since migration 020), one from
 * before it (the journal starts past its first orders, as the migration leaves an existing shard: those
 * are read from the tables). Both answer alike; where their lines come from differs.
 */
describe.each([{ journal: 'every order' as const }, { journal: 'none of the first orders' as const }])(
  'every product in one pass over the lines (the journal holds $journal)',
  ({ journal }) => {
    const { db, write } = testShard(`product-scan-${journal.length}`);
    const journalled = journal === 'every order';

    const orders = makeOrders(900, 'S');
    // an order holding one product on two lines: its units and revenue add up, the order counts once
    orders.push({
      ...orders[0]!,
      order_id: 'S-twice',
      status: 'paid',
      created_at: '2026-01-25T12:00:00.000Z', // alone in its hour
      items: [
        { product_id: 2, quantity: 1, unit_price_cents: 500 },
        { product_id: 2, quantity: 3, unit_price_cents: 700 },
      ],
      total_cents: 2600,
    });
    write(orders);
    if (!journalled) forgetJournal(db);
    const builder = new RollupBuilder(db);

    /** A ranking read whole in one transaction: its buckets, and where its lines came from. */
    const ranking = (r: SalesRequest, options: ScanOptions = {}) =>
      db.transaction(() => {
        const scan = scanProducts(db, r, options);
        const data = [...productRanking(scan, options.top ?? r.top).buckets()];
        return { data, sources: scan.sources };
      })();

    /**
     * Where a part read its lines: day blocks, the journal (whether), the tables (how). Orders the day blocks
     * do not hold come from the journal where it holds them, else from the tables.
     */
    function expectSources(r: SalesRequest, blockDays: number, outside: ('storage-order' | 'date-index')[]) {
      const { sources } = scanProducts(db, r);
      expect(sources.blockDays).toBe(blockDays);
      expect({ journal: sources.journalBlocks > 0, scans: sources.scans }).toEqual(
        journalled ? { journal: outside.length > 0, scans: [] } : { journal: false, scans: outside },
      );
    }

    const request = (start: string, end: string, top = 100): SalesRequest => ({
      groupBy: 'product',
      start: Date.parse(start),
      end: Date.parse(end),
      precision: 'exact',
      source: 'auto', // (source=orders reads every line from the tables: compared below)
      statuses: ['paid', 'shipped', 'delivered'],
      top,
    });

    /** Every way of reading the range answers what the per-product scan of the orders answers. */
    function expectScansAsDefined(r: SalesRequest): void {
      const reference = exactFromOrders(db, r).data;
      expect(productsByScan(db, r).data).toEqual(reference);
      const every = ranking(r, { top: Number.MAX_SAFE_INTEGER });
      expect(every.data.slice(0, r.top)).toEqual(reference);
      expect(every.sources.slices).toBeLessThanOrEqual(1); // a few hundred pairs: one slice
      expectSlicesAsDefined(r, reference);
    }

    /**
     * Read in slices of a pair budget (each a pass over the lines again), a scan holds at most the budget's
     * pairs (or one product's orders, where one has more) and answers the same, every product or a top;
     * so do categories.
     */
    function expectSlicesAsDefined(r: SalesRequest, reference: { orders: number }[]): void {
      const mostOrders = Math.max(0, ...reference.map((b) => b.orders));
      for (const pairBudget of [1, 7, 60])
        for (const top of [r.top, 2]) {
          const figures = ranking(r, { top, pairBudget });
          expect(figures.data).toEqual(reference.slice(0, top));
          expect(figures.sources.pairsHeld).toBeLessThanOrEqual(Math.max(pairBudget, mostOrders));
          if (reference.length > 2 && pairBudget === 1) expect(figures.sources.slices).toBeGreaterThan(1);
        }
      // categories: by histograms (two passes) where what they keep fits, in slices of pairs where it does
      // not: two ways of reading, one answer
      const byCategory = { ...r, groupBy: 'category' as const };
      const byHistograms = categoriesByLines(db, byCategory);
      const inSlices = categoriesByLines(db, byCategory, 5);
      expect(byHistograms.method).not.toContain('slices');
      if (byHistograms.data.length > 1) expect(inSlices.method).toContain('slices of the categories');
      expect(inSlices.data).toEqual(byHistograms.data);
      expect(byHistograms.method).toMatch(
        /^exact: .*read again for the totals in the percentiles' histogram bins/,
      );
      // approx: the same counts from one pass, each percentile the middle of its bin, within the bound
      const approx = categoriesByLines(db, { ...byCategory, precision: 'approx' });
      expect(approx.percentiles).toBe('binned');
      expect(approx.method).toMatch(/^counted exactly, percentiles binned: /);
      expect(approx.method).not.toContain('read again');
      const percentiles = [
        'p50_order_value_cents',
        'p95_order_value_cents',
        'p99_order_value_cents',
      ] as const;
      expect(
        approx.data.map((b) => ({ ...b, ...Object.fromEntries(percentiles.map((p) => [p, 0])) })),
      ).toEqual(
        byHistograms.data.map((b) => ({ ...b, ...Object.fromEntries(percentiles.map((p) => [p, 0])) })),
      );
      approx.data.forEach((b, i) => {
        for (const p of percentiles) {
          const exact = byHistograms.data[i]![p]!;
          expect(Math.abs(b[p]! - exact)).toBeLessThanOrEqual(exact * BINNED_RELATIVE_ERROR);
        }
      });
    }

    /** source=orders reads every line from the tables, and answers what the blocks do; so do categories. */
    function expectTablesAgree(): void {
      const fromTables = { ...ranges[0]!, source: 'orders' as const };
      expect(scanProducts(db, fromTables).sources).toMatchObject({
        blockDays: 0,
        journalBlocks: 0,
        scans: ['storage-order'],
      });
      expect(productsByScan(db, fromTables).data).toEqual(productsByScan(db, ranges[0]!).data);
      for (const r of ranges) {
        const byCategory = { ...r, groupBy: 'category' as const };
        const fromBlocks = categoriesByLines(db, byCategory);
        expect(fromBlocks.data.length).toBeGreaterThan(0);
        expect(fromBlocks.data).toEqual(categoriesByLines(db, { ...byCategory, source: 'orders' }).data);
      }
    }

    const ranges = [
      request('2026-01-01', '2026-02-01'), // every order, whole days
      request('2026-01-02T03:00:00Z', '2026-01-02T09:30:00Z'), // a few hours
      request('2026-01-01T10:00:00Z', '2026-01-03T05:00:00Z'), // partial days around a whole one
    ];

    it('before any rollup: every order is past the watermark, read from the journal or the tables', () => {
      for (const r of ranges) expectScansAsDefined(r);
      expectSources(ranges[0]!, 0, ['storage-order']);
    });

    it('rolled up: whole clean days from their line blocks, the partial days around them from the tables', () => {
      builder.applyPending(0);
      builder.rebuildDirty(ALL_TIME.start, ALL_TIME.end);
      for (const r of ranges) expectScansAsDefined(r);
      expectSources(ranges[0]!, 5, []); // the days with orders
      expectTablesAgree();
      expect(productsByScan(db, ranges[0]!).method).toContain('order_line_blocks of 5 days');
      expectSources(ranges[2]!, 1, ['date-index', 'date-index']);
    });

    it('new orders folded in as deltas join the blocks; orders not folded in yet and dirty days are read from the journal', () => {
      write(makeOrders(30, 'delta', 5)); // into the first days, as deltas
      expect(builder.applyPending()).toMatchObject({ mode: 'delta' });
      for (const r of ranges) expectScansAsDefined(r);
      expectSources(ranges[0]!, 5, []); // the days with orders
      expectTablesAgree();
      write(makeOrders(20, 'pending', 6)); // past the watermark: in the journal of either shard
      expectScansAsDefined(ranges[0]!);
      expect(scanProducts(db, ranges[0]!).sources).toMatchObject({ blockDays: 5, scans: [] });
      expect(scanProducts(db, ranges[0]!).sources.journalBlocks).toBeGreaterThan(0);
      write(makeOrders(2000, 'bulk', 8)); // a bulk load: its hours marked dirty
      builder.applyPending(0);
      for (const r of ranges) expectScansAsDefined(r);
      const sources = scanProducts(db, ranges[0]!).sources;
      expect(sources.blockDays).toBeLessThan(5);
      // the dirty days' older orders: from the journal of the first shard, the tables of the second
      expect(sources.scans.length > 0).toBe(!journalled);
      expect(sources.journalBlocks).toBeGreaterThan(0);
      builder.rebuildDirty(ALL_TIME.start, ALL_TIME.end);
      for (const r of ranges) expectScansAsDefined(r);
    });

    it('orders read from the journal before a catch-up and from the blocks after it answer alike', () => {
      for (const [i, r] of ranges.entries()) {
        write(makeOrders(40, `between${i}`, 30 + i)); // past the watermark, into days the blocks hold
        const before = ranking(r).data; // reads them from the journal
        expect(builder.applyPending()).toMatchObject({ mode: 'delta' }); // now in the blocks
        expect(ranking(r).data).toEqual(before);
        expect(before).toEqual(exactFromOrders(db, r).data);
      }
    });

    it('a day folded into many times is compacted into one block and reads the same', () => {
      for (let i = 0; i < BLOCK_PARTS_MAX + 3; i++) {
        write(makeOrders(3, `trickle${i}`, 20 + i));
        builder.applyPending();
        const parts = db
          .prepare('SELECT count(*) AS n FROM order_line_blocks WHERE day = ?')
          .pluck()
          .get(Date.parse('2026-01-01') / 86_400_000) as number;
        expect(parts).toBeLessThanOrEqual(BLOCK_PARTS_MAX);
      }
      for (const r of ranges) expectScansAsDefined(r);
    });

    it('counts an order once per product however many lines it has', () => {
      for (const pairBudget of [1, 100]) {
        const r = request('2026-01-25T12:00:00Z', '2026-01-25T13:00:00Z');
        expect(rankedAnswer(db, r, { top: r.top, pairBudget }).data).toEqual([
          {
            key: 2,
            orders: 1,
            units: 4,
            revenue_cents: 2600,
            unique_customers: 1,
            avg_order_value_cents: 2600,
            p50_order_value_cents: 2600,
            p95_order_value_cents: 2600,
            p99_order_value_cents: 2600,
          },
        ]);
      }
    });

    it('a day of more lines than one block holds is stored in blocks of at most DAY_BLOCK_BYTES, rebuilt or appended to', () => {
      const day = Date.parse('2026-01-28');
      const blocksOfDay = () =>
        db
          .prepare('SELECT length(block) AS bytes FROM order_line_blocks WHERE day = ?')
          .all(day / 86_400_000) as { bytes: number }[];
      const oneDay = (n: number, prefix: string) =>
        makeOrders(n, prefix, 40).map((o, i) => ({
          ...o,
          created_at: new Date(day + i * 50_000).toISOString(),
        }));
      write(oneDay(1500, 'big')); // ~1500 orders, ~3000 lines: more than one block's bytes
      builder.applyPending(0);
      builder.rebuildDirty(ALL_TIME.start, ALL_TIME.end);
      const rebuilt = blocksOfDay();
      expect(rebuilt.length).toBeGreaterThan(1);
      for (const b of rebuilt) expect(b.bytes).toBeLessThanOrEqual(DAY_BLOCK_BYTES);
      for (const r of ranges) expectScansAsDefined(r);
      // source=orders reads them from the tables, spilling more than a block's worth while it iterates
      expectTablesAgree();
      for (let i = 0; i < BLOCK_PARTS_MAX + 3; i++) {
        write(
          oneDay(5, `more${i}`).map((o) => ({
            ...o,
            created_at: new Date(day + 80_000_000 + i).toISOString(),
          })),
        );
        expect(builder.applyPending()).toMatchObject({ mode: 'delta' });
        expect(blocksOfDay().length).toBeLessThan(rebuilt.length + BLOCK_PARTS_MAX);
      }
      for (const b of blocksOfDay()) expect(b.bytes).toBeLessThanOrEqual(DAY_BLOCK_BYTES);
      expectScansAsDefined(ranges[0]!);
    });

    it('a ranking on its own reader closes it when its buckets end, and when they are abandoned half way', () => {
      const r = request('2026-01-01', '2026-02-01', 1000);
      const wholeReader = new Database(db.name, { readonly: true });
      const whole = rankingOnReader(wholeReader, r, { top: r.top });
      const reader = new Database(db.name, { readonly: true });
      const abandoned = rankingOnReader(reader, r, { top: r.top, pairBudget: 1 }); // a slice per product
      const buckets = abandoned.buckets();
      expect(buckets.next().done).toBe(false);
      expect(reader.open).toBe(true); // holding its snapshot for the slices to come
      buckets.return(undefined); // the consumer stops (a client that went away)
      expect(reader.open).toBe(false);
      expect([...whole.buckets()]).toEqual(exactFromOrders(db, r).data);
      expect(wholeReader.open).toBe(false);
    });

    it('ranks by revenue, ties to the lower id, and keeps the first `top`', () => {
      const r = request('2026-01-01', '2026-02-01', 3);
      const got = productsByScan(db, r).data;
      expect(got).toHaveLength(3);
      expect(got).toEqual(exactFromOrders(db, request('2026-01-01', '2026-02-01', 100)).data.slice(0, 3));
    });
  },
);
