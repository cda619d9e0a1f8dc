import { tableFromIPC } from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import type { Bucket } from '../../src/domain/sales.js';
import { bucketsAsArrowStream } from '../../src/formats/bucket-arrow.js';

const bucket = (key: string | number, n: number): Bucket => ({
  key,
  orders: n,
  units: 2 * n,
  revenue_cents: 1000 * n + 2 ** 40, // beyond 32 bits
  unique_customers: n,
  avg_order_value_cents: 1000,
  p50_order_value_cents: n === 0 ? null : 900 + n,
  p95_order_value_cents: n === 0 ? null : 1900,
  p99_order_value_cents: n === 0 ? null : 2900,
});

function decode(chunks: Uint8Array[]) {
  const table = tableFromIPC(Buffer.concat(chunks));
  return {
    table,
    rows: table.toArray().map((r) => {
      const o = r.toJSON() as Record<string, unknown>;
      return Object.fromEntries(
        Object.entries(o).map(([k, v]) => [k, typeof v === 'bigint' ? Number(v) : v]),
      );
    }),
  };
}

/** Every chunk of a stream. */
async function chunksOf(stream: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

describe('bucketsAsArrowStream', () => {
  it('yields one valid IPC stream, a record batch at a time, with the meta in the schema', async () => {
    const buckets = [
      bucket('2026-02-01', 3),
      bucket('2026-02-02', 0),
      bucket('2026-02-03', 5),
      bucket('x', 1),
      bucket('y', 2),
    ];
    const chunks = await chunksOf(bucketsAsArrowStream(buckets, 'text', { precision: 'exact' }, 2));
    expect(chunks.length).toBe(4); // three batches (the schema before the first), then the end marker
    const { table, rows } = decode(chunks);
    expect(table.batches.length).toBe(3);
    expect(rows).toEqual(buckets);
    expect(JSON.parse(table.schema.metadata.get('orderflow.meta')!)).toEqual({ precision: 'exact' });
  });

  it('takes the buckets from an iterable as it goes: at most two batches of them are made at a time', async () => {
    let made = 0;
    function* lazily() {
      for (let i = 0; i < 6; i++) {
        made++;
        yield bucket(i + 1, i);
      }
    }
    const stream = bucketsAsArrowStream(lazily(), 'integer', {}, 2);
    await stream.next(); // the first batch is written once the second is gathered (so the last is known)
    expect(made).toBe(4);
    const rest = await chunksOf(stream);
    expect(made).toBe(6);
    expect(rest.length).toBe(3);
  });

  it('takes buckets that come asynchronously (slices read as the stream reaches them) alike', async () => {
    const buckets = [bucket(1, 3), bucket(2, 1), bucket(3, 2)];
    async function* later() {
      for (const b of buckets) {
        await new Promise((resolve) => setImmediate(resolve));
        yield b;
      }
    }
    const { rows } = decode(await chunksOf(bucketsAsArrowStream(later(), 'integer', {}, 2)));
    expect(rows).toEqual(buckets);
  });

  it('integer keys for products, and an empty answer is an empty table', async () => {
    const { rows } = decode(
      await chunksOf(bucketsAsArrowStream([bucket(42, 1), bucket(7, 2)], 'integer', {})),
    );
    expect(rows.map((r) => r.key)).toEqual([42, 7]);
    const empty = decode(await chunksOf(bucketsAsArrowStream([], 'text', { n: 0 })));
    expect(empty.table.numRows).toBe(0);
    expect(empty.table.schema.fields.map((f) => f.name)).toContain('p99_order_value_cents');
  });
});
