import { describe, expect, it } from 'vitest';
import { Utf8Builder } from '../../src/formats/utf8-builder.js';
import { parseChunk } from '../../src/ingest/ingest-chunk.js';
import { batchOf, decodeBatch, encodeBatch, RowBatchEncoder } from '../../src/ingest/row-transfer.js';
import { toOrderRecord } from '../../src/storage/order-record.js';
import { ndjson, order, product } from '../helpers/data.js';

const obs = { record() {} } as never;
const parse = (kind: 'orders' | 'products', rows: unknown[]) =>
  parseChunk(
    { obs },
    {
      requestId: 't',
      tenantId: 1,
      kind,
      bytes: new TextEncoder().encode(ndjson(rows)),
      firstLine: 7,
      batchRows: 100,
      maxErrors: 10,
    },
  ).valid;

describe('row transfer between the parse stage and the writer lane', () => {
  it('orders come back exactly as validated: every field, every item, lines and ids', () => {
    const rows = [
      order(1),
      {
        ...order(2),
        customer_name: 'Zoë “Ω” 北京',
        items: [1, 2, 3, 4].map((p) => ({ product_id: p, quantity: p, unit_price_cents: 0 })),
      },
      { ...order(3), created_at: '2026-02-03T04:05:06.789+02:00', status: 'refunded', total_cents: 1e13 },
    ];
    const valid = parse('orders', rows);
    expect(valid).toHaveLength(3);
    const back = decodeBatch('orders', encodeBatch(batchOf('orders', valid)));
    expect(back).toEqual({
      kind: 'orders',
      lines: [7, 8, 9],
      records: valid.map((p) => toOrderRecord(p.row as never)),
    });
    // the record holds every field and every item of the validated row
    expect(back.kind === 'orders' && back.records[1]).toEqual([
      'A-2',
      'C-2',
      'Zoë “Ω” 北京',
      'ada2@example.com',
      'paid',
      'USD',
      Date.UTC(2026, 2, 1) + 2 * 60_000,
      3998,
      [1, 1, 0, 2, 2, 0, 3, 3, 0, 4, 4, 0],
    ]);
  });

  it('rows encoded one at a time as they are accepted make the same bytes as the whole batch', () => {
    // one builder for every batch, as a parse worker keeps one; a small one, so it grows on the way
    const builder = new Utf8Builder(16);
    for (const [kind, rows] of [
      ['orders', [order(1), { ...order(2), customer_name: ' Zoë “Ω” 北京 ' }, order(3)]],
      ['products', [product(1), product(2)]],
      ['orders', []],
    ] as const) {
      const valid = parse(kind, [...rows]);
      const encoder = new RowBatchEncoder(kind, builder);
      for (const row of valid) encoder.add(row);
      expect(encoder.size).toBe(rows.length);
      expect(new TextDecoder().decode(encoder.finish())).toBe(
        new TextDecoder().decode(encodeBatch(batchOf(kind, valid))),
      );
    }
  });

  it('a batch left half-written (its parse threw) does not leak into the next one', () => {
    const builder = new Utf8Builder();
    const valid = parse('orders', [order(1), order(2)]);
    const abandoned = new RowBatchEncoder('orders', builder);
    abandoned.add(valid[0]!);
    const encoder = new RowBatchEncoder('orders', builder);
    encoder.add(valid[1]!);
    expect(decodeBatch('orders', encoder.finish())).toEqual(
      decodeBatch('orders', encodeBatch(batchOf('orders', [valid[1]!]))),
    );
  });

  it('other kinds travel as the validated objects', () => {
    const valid = parse('products', [product(1), { ...product(2), currency: 'EUR', stock: 5 }]);
    expect(decodeBatch('products', encodeBatch(batchOf('products', valid)))).toEqual({
      kind: 'products',
      rows: valid,
    });
  });
});
