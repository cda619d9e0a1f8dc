import { describe, expect, it } from 'vitest';
import { binaryCopyRows } from '../../src/storage/postgres/copy-binary.js';

/** A binary COPY stream (PostgreSQL's format) of rows of fields: bytes, or null for NULL. */
function copyStream(rows: (Uint8Array | null)[][], extension = new Uint8Array(0)): Buffer {
  const parts: Buffer[] = [Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1')];
  const int = (n: number, bytes: 2 | 4) => {
    const b = Buffer.alloc(bytes);
    if (bytes === 2) b.writeInt16BE(n);
    else b.writeInt32BE(n);
    return b;
  };
  parts.push(int(0, 4), int(extension.length, 4), Buffer.from(extension));
  for (const row of rows) {
    parts.push(int(row.length, 2));
    for (const field of row)
      parts.push(...(field === null ? [int(-1, 4)] : [int(field.length, 4), Buffer.from(field)]));
  }
  parts.push(int(-1, 2));
  return Buffer.concat(parts);
}

async function* inChunks(bytes: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

async function rowsOf(chunks: AsyncIterable<Buffer>) {
  const rows: (number[] | null)[][] = [];
  for await (const row of binaryCopyRows(chunks)) rows.push(row.map((f) => (f === null ? null : [...f])));
  return rows;
}

describe('binary COPY rows', () => {
  const rows = [
    [Uint8Array.of(0, 0, 0, 7), Uint8Array.from({ length: 300 }, (_, i) => i % 251)],
    [null, new Uint8Array(0)],
    [Uint8Array.of(255)],
  ];
  const want = rows.map((row) => row.map((f) => (f === null ? null : [...f])));

  it('reads every row and field (NULL, empty, any length) whatever the chunk boundaries, a header extension skipped', async () => {
    for (const extension of [new Uint8Array(0), Uint8Array.of(1, 2, 3)])
      for (const size of [1, 2, 3, 7, 64, 100_000])
        expect(await rowsOf(inChunks(copyStream(rows, extension), size)), `chunks of ${size}`).toEqual(want);
  });

  it('each field is a copy of its own, 8-byte aligned, not a view of the chunk it came in', async () => {
    const bytes = copyStream(rows);
    for await (const row of binaryCopyRows(inChunks(bytes, 1 << 20)))
      for (const field of row) if (field) expect(field.byteOffset % 8).toBe(0);
    const kept: (Uint8Array | null)[][] = [];
    for await (const row of binaryCopyRows(inChunks(bytes, 1 << 20))) kept.push(row);
    bytes.fill(0); // the stream's chunks overwritten: the fields read keep their bytes
    expect(kept.map((row) => row.map((f) => (f === null ? null : [...f])))).toEqual(want);
  });

  it('refuses a stream that is not binary COPY, or that ends before its trailer', async () => {
    await expect(
      rowsOf(inChunks(Buffer.from('id,name\n1,a\n more text to fill the header'), 4)),
    ).rejects.toThrow('not a binary COPY stream');
    const whole = copyStream(rows);
    for (const cut of [5, 30, whole.length - 2])
      await expect(rowsOf(inChunks(whole.subarray(0, cut), 3))).rejects.toThrow('ended before its trailer');
  });
});
