import { tableFromIPC, tableToIPC } from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { SEARCH_FIELDS, type SearchRow } from '../../src/domain/search.js';
import {
  createExportEncoder,
  dropKeptEncoders,
  keptEncoders,
  releaseExportEncoder,
} from '../../src/formats/export-encoder.js';
import { orderTable } from '../../src/formats/order-arrow.js';
import { exportBatches } from '../../src/storage/export-batches.js';
import { order } from '../helpers/data.js';
import { searchRows } from '../helpers/search-rows.js';
import { testShard } from '../helpers/shard.js';

const fields = [...SEARCH_FIELDS];

const rows = searchRows;

/** The same rows, handed over one at a time by a generator (as a page read from SQLite is). */
function* oneByOne(batch: readonly SearchRow[]): Generator<SearchRow> {
  yield* batch;
}

describe('export pages are read a row at a time', () => {
  const shard = testShard('export-rows');
  shard.write(Array.from({ length: 25 }, (_, i) => order(i + 1)));

  it('covers every row once, newest first, in pages of the batch size; the last page may be empty', () => {
    const counts: number[] = [];
    const ids: unknown[] = [];
    for (const page of exportBatches(shard.db, {}, fields, null, 5)) {
      for (const row of page) ids.push(row[2]);
      counts.push(page.count);
    }
    expect(counts).toEqual([5, 5, 5, 5, 5, 0]);
    expect(ids).toEqual(Array.from({ length: 25 }, (_, i) => `A-${25 - i}`));
  });

  it('steps through SQLite as the page is iterated: mid-page the connection is still busy with it', () => {
    const pages = exportBatches(shard.db, {}, fields, null, 10);
    const page = pages.next().value!;
    const iterator = page[Symbol.iterator]();
    iterator.next();
    expect(page.count).toBe(1);
    // a page built by .all() would have finished its statement before handing over the first row; an
    // open one keeps the connection busy (better-sqlite3 refuses to run anything else but a read on it)
    expect(() => shard.db.exec('SELECT 1')).toThrow(/busy/);
    iterator.return?.();
    pages.return(undefined);
    expect(shard.db.prepare('SELECT count(*) AS n FROM orders').get()).toEqual({ n: 25 });
  });

  it('a page is read once, and a page left unread ends its statement when the next is asked for', () => {
    const pages = exportBatches(shard.db, {}, fields, null, 10);
    const first = pages.next().value!;
    const taken = [...first];
    expect(() => [...first]).toThrow(/read once/);
    expect(first.positionAfter()).toEqual({ createdAt: taken[9]![0], orderPk: taken[9]![1] });
    const second = pages.next().value!;
    second[Symbol.iterator]().next();
    pages.return(undefined); // closes the half-read page
    expect(shard.db.prepare('SELECT count(*) AS n FROM orders').get()).toEqual({ n: 25 });
  });
});

describe('encoders take rows from any iterable', () => {
  const batch = rows(0, 300, (i) => (i % 3 ? `Zoë ${i} 東京` : `Ann ${i} 🎉`));

  for (const [format, compression] of [
    ['csv', 'none'],
    ['csv', 'gzip'],
    ['parquet', 'zstd'],
  ] as const)
    it(`${format} ${compression}: one row at a time gives the same bytes as an array`, async () => {
      const fromArray = await createExportEncoder(format, compression, fields);
      const fromRows = await createExportEncoder(format, compression, fields);
      const a = fromArray.encode(batch, 4);
      const expected = Buffer.from(a.bytes);
      const b = fromRows.encode(oneByOne(batch), 4);
      expect(b.rows).toBe(300);
      expect(Buffer.from(b.bytes)).toEqual(expected);
    });

  it('Arrow columns built a row at a time keep multi-byte text, empty values and nested items', () => {
    const odd = rows(0, 4, (i) => ['', 'Zoë', '東京タワー', '🎉 party'][i]!);
    const back = tableFromIPC(tableToIPC(orderTable(oneByOne(odd), fields), 'stream'));
    expect(back.numRows).toBe(4);
    expect(back.getChild('customer_name')!.toArray()).toEqual(['', 'Zoë', '東京タワー', '🎉 party']);
    expect(back.getChild('order_id')!.toArray()).toEqual(['ord-0', 'ord-1', 'ord-2', 'ord-3']);
    expect(Array.from(back.getChild('total_cents')!.toArray() as BigInt64Array, Number)).toEqual([
      0, 101, 202, 303,
    ]);
    const items = back.getChild('items')!.get(2) as { toArray(): { toJSON(): Record<string, unknown> }[] };
    expect(
      items.toArray().map((s) => Object.values(s.toJSON()).map((v) => Number(v as number | bigint))),
    ).toEqual([
      [10, 1, 250],
      [11, 2, 500],
      [12, 3, 750],
    ]);
  });
});

describe('a thread keeps its encoders between tasks', () => {
  it('gives a released encoder to the next task of the same shape, keeps two, and drops them when asked', async () => {
    dropKeptEncoders();
    const a = await createExportEncoder('csv', 'none', fields);
    const b = await createExportEncoder('csv', 'none', fields);
    const c = await createExportEncoder('csv', 'none', fields);
    expect(new Set([a, b, c]).size).toBe(3);
    for (const e of [a, b, c]) releaseExportEncoder(e);
    releaseExportEncoder(a); // given back twice: kept once
    expect(keptEncoders()).toBe(2);
    const again = await createExportEncoder('csv', 'none', fields);
    expect([a, b, c]).toContain(again);
    // another shape (format, compression or fields) never gets it
    expect(await createExportEncoder('csv', 'gzip', fields)).not.toBe(again);
    releaseExportEncoder(again);
    expect(await createExportEncoder('csv', 'none', ['order_id'])).not.toBe(again);
    dropKeptEncoders();
    expect(keptEncoders()).toBe(0);
    expect(await createExportEncoder('csv', 'none', fields)).not.toBe(again);
  });

  it('an encoder whose batch failed half-way encodes the next batch exactly as a fresh one does', async () => {
    for (const format of ['csv', 'parquet'] as const) {
      dropKeptEncoders();
      const used = await createExportEncoder(format, 'zstd', fields);
      function* failing(): Generator<SearchRow> {
        yield* rows(0, 3);
        throw new Error('the disk went away');
      }
      expect(() => used.encode(failing(), 4)).toThrow(/disk went away/);
      releaseExportEncoder(used);
      const reused = await createExportEncoder(format, 'zstd', fields);
      expect(reused).toBe(used);
      const next = rows(100, 50);
      const got = Buffer.from(reused.encode(next, 4).bytes);
      dropKeptEncoders();
      const fresh = await createExportEncoder(format, 'zstd', fields);
      expect(got).toEqual(Buffer.from(fresh.encode(next, 4).bytes));
    }
  });
});
