import { describe, expect, it } from 'vitest';
import { parseChunk } from '../../src/ingest/ingest-chunk.js';
import type { OrderRow } from '../../src/storage/order-writer.js';
import { order } from '../helpers/data.js';

const obs = { record() {} } as never;
const parse = (bytes: Uint8Array, firstLine = 1) =>
  parseChunk(
    { obs },
    { requestId: 't', tenantId: 1, kind: 'orders', bytes, firstLine, batchRows: 100, maxErrors: 10 },
  );
const utf8 = (text: string) => new TextEncoder().encode(text);
const json = (o: unknown) => JSON.stringify(o);

describe('parseChunk: lines of a chunk, each decoded on its own', () => {
  it('LF and CRLF endings, blank lines counted, a last line without its newline', () => {
    const text = `${json(order(1))}\r\n\n${json(order(2))}\n  \r\n${json(order(3))}`;
    const { valid, summary } = parse(utf8(text), 10);
    expect(valid.map((p) => [p.line, (p.row as OrderRow).order_id])).toEqual([
      [10, 'A-1'],
      [12, 'A-2'],
      [14, 'A-3'],
    ]);
    expect(summary).toMatchObject({ received: 3, failed: 0 });
  });

  it('text past ASCII arrives whole: accents, CJK, an emoji, across the lines', () => {
    const names = ['Zoë Ångström', '北京 客户', 'Ada 😀 Lovelace'];
    const text = names.map((n, i) => json(order(i + 1, { customer_name: n }))).join('\n');
    const { valid } = parse(utf8(`${text}\n`));
    expect(valid.map((p) => (p.row as OrderRow).customer_name)).toEqual(names);
  });

  it('a byte-order mark is dropped at the start of the chunk only; on a later line it fails that line', () => {
    const bom = '\uFEFF';
    const { valid, summary } = parse(utf8(`${bom}${json(order(1))}\n${bom}${json(order(2))}\n`));
    expect(valid.map((p) => p.line)).toEqual([1]);
    expect(summary.errors).toEqual([expect.objectContaining({ line: 2, code: 'invalid_json' })]);
  });

  it('bytes that are not UTF-8 become U+FFFD inside a value, and the line is still read', () => {
    const [before, after] = json(order(1, { customer_name: 'XX' })).split('XX') as [string, string];
    const bytes = new Uint8Array([
      ...utf8(before),
      0xff,
      0xc3,
      ...utf8(after),
      0x0a,
      ...utf8(json(order(2))),
    ]);
    const { valid } = parse(bytes);
    expect((valid[0]!.row as OrderRow).customer_name).toBe('\uFFFD\uFFFD');
    expect(valid).toHaveLength(2);
  });
});
