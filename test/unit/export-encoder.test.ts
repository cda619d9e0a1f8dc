import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DuckDBInstance } from '@duckdb/node-api';
import { tableFromIPC } from 'apache-arrow';
import { readParquet } from 'parquet-wasm';
import { describe, expect, it } from 'vitest';
import { SEARCH_FIELDS, type SearchRow } from '../../src/domain/search.js';
import { createExportEncoder, encodedFile } from '../../src/formats/export-encoder.js';
import { readStruct, writeStruct } from '../../src/formats/thrift-compact.js';
import { parquetPageOffsetProblems, parquetRowGroups, parquetRowsLiterally } from '../helpers/parquet.js';
import { searchRows } from '../helpers/search-rows.js';

const rows = (from: number, n: number) => searchRows(from, n);

/** A whole file from batches, as direct streaming writes it: header, batches at their offsets, trailer. */
async function assemble(
  format: 'csv' | 'parquet',
  compression: 'none' | 'gzip' | 'zstd',
  batches: SearchRow[][],
) {
  const enc = await createExportEncoder(format, compression, [...SEARCH_FIELDS]);
  // each piece is valid until the next is made: copied as it comes
  return Buffer.concat(Array.from(encodedFile(enc, batches), (piece) => Buffer.from(piece)));
}

describe('thrift compact codec', () => {
  it('round-trips a struct byte for byte, including long lists, negative numbers and nested structs', () => {
    const struct = [
      { id: 1, type: 5, value: -42 },
      { id: 2, type: 8, value: new Uint8Array([1, 2, 3]) },
      { id: 3, type: 6, value: 2n ** 40n },
      {
        id: 4,
        type: 9,
        value: {
          elementType: 12,
          items: Array.from({ length: 20 }, (_, i) => [{ id: 1, type: 4, value: i - 10 }]),
        },
      },
      { id: 30, type: 1, value: true },
      { id: 31, type: 2, value: false },
    ] as Parameters<typeof writeStruct>[0];
    const bytes = writeStruct(struct);
    expect(writeStruct(readStruct(bytes))).toEqual(bytes);
    expect(readStruct(bytes)).toEqual(struct);
  });

  it('rejects truncated input with its own error', () => {
    const bytes = writeStruct([{ id: 1, type: 8, value: new Uint8Array(10) }]);
    expect(() => readStruct(bytes.subarray(0, 5))).toThrow(/past the end|unexpected end/);
  });
});

describe('export encoders', () => {
  const batches = [rows(0, 1000), rows(1000, 1), rows(1001, 2500)];
  const all = batches.flat();

  it('assembles one Parquet file from independently encoded row groups, readable by Arrow', async () => {
    const file = await assemble('parquet', 'zstd', batches);
    const table = tableFromIPC(readParquet(file).intoIPCStream());
    expect(table.numRows).toBe(all.length);
    const i = 1500;
    const row = table.get(i)!.toJSON() as Record<string, unknown>;
    expect(row.order_id).toBe(`ord-${i}`);
    expect(Number(row.total_cents)).toBe(i * 101);
    expect(row.created_at).toBe(all[i]![0]);
    const items = (table.getChild('items')!.get(i) as { toArray(): { toJSON(): object }[] })
      .toArray()
      .map((s) => s.toJSON());
    expect(items.map((x) => Number((x as { product_id: bigint }).product_id))).toEqual(
      JSON.parse(all[i]![10] as string).map((x: { product_id: number }) => x.product_id),
    );
    expect(table.getChild('customer_name')!.get(3)).toBe('Ann "the, quoted" Lee\nSr');
  });

  it('moves every row group offset with its bytes: a reader that seeks to the footer offsets literally reads it', async () => {
    const file = await assemble('parquet', 'zstd', batches);
    expect(parquetRowGroups(file)).toEqual([1000, 1, 2500]);
    expect(parquetPageOffsetProblems(file)).toEqual([]);
    const read = await parquetRowsLiterally(file);
    expect(read.map((r) => r.order_id)).toEqual(all.map((r) => r[2]));
    expect(read.map((r) => Number(r.total_cents))).toEqual(all.map((r) => r[4]));
    expect(read.map((r) => (r.items as unknown[]).length)).toEqual(all.map((r) => r[9]));
  });

  it('produces a file DuckDB reads, with every row group and the right sums', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'of-pq-'));
    const path = join(dir, 'x.parquet');
    writeFileSync(path, await assemble('parquet', 'zstd', batches));
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    const reader = await conn.runAndReadAll(
      `SELECT count(*)::INTEGER AS n, sum(total_cents)::BIGINT AS s, sum(len(items))::INTEGER AS items,
        count(DISTINCT order_id)::INTEGER AS ids FROM read_parquet('${path}')`,
    );
    const [n, s, items, ids] = reader.getRows()[0]!;
    expect(n).toBe(all.length);
    expect(Number(s)).toBe(all.reduce((a, r) => a + (r[4] as number), 0));
    expect(items).toBe(all.reduce((a, r) => a + (r[9] as number), 0));
    expect(ids).toBe(all.length);
    const groups = await conn.runAndReadAll(
      `SELECT count(DISTINCT row_group_id)::INTEGER FROM parquet_metadata('${path}')`,
    );
    expect(groups.getRows()[0]![0]).toBe(3);
    conn.closeSync();
  });

  it('an export with no rows is still a valid Parquet file with the schema', async () => {
    const table = tableFromIPC(readParquet(await assemble('parquet', 'zstd', [])).intoIPCStream());
    expect(table.numRows).toBe(0);
    expect(table.schema.fields.map((f) => f.name)).toEqual([...SEARCH_FIELDS]);
  });

  it('CSV gzip is a multi-member gzip file whose text equals the plain CSV', async () => {
    const plain = (await assemble('csv', 'none', batches)).toString('utf8');
    const gz = await assemble('csv', 'gzip', batches);
    expect(gunzipSync(gz).toString('utf8')).toBe(plain);
    const lines = plain.split('\r\n');
    expect(lines[0]).toBe(SEARCH_FIELDS.join(','));
    // the quoted name spans two physical lines; RFC 4180 quoting doubles the inner quotes
    expect(plain).toContain('"Ann ""the, quoted"" Lee\nSr"');
    expect(plain.match(/\r\n/g)!.length).toBe(all.length + 1);
  });
});
