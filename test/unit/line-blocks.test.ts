import { describe, expect, it } from 'vitest';
import {
  type BlockLine,
  decodeLineBlock,
  LineBlockWriter,
  statusCodes,
} from '../../src/storage/line-blocks.js';

const line = (order: number, product: number, extra: Partial<BlockLine> = {}): BlockLine => ({
  order_pk: order,
  status: 'paid',
  customer_pk: order % 7,
  total_cents: order * 100,
  product_id: product,
  quantity: 1 + (product % 3),
  unit_price_cents: 250 + product,
  ...extra,
});

/** Every line of a decoded block, back as lines. */
function linesOf(bytes: Uint8Array): BlockLine[] {
  const b = decodeLineBlock(bytes);
  const out: BlockLine[] = [];
  for (let o = 0, from = 0; o < b.orders; o++) {
    for (let i = from; i < b.lineEnd[o]!; i++)
      out.push({
        order_pk: b.orderPk[o]!,
        status: ['pending', 'paid', 'shipped', 'delivered', 'cancelled', 'refunded'][b.status[o]!]!,
        customer_pk: b.customerPk[o]!,
        total_cents: b.total[o]!,
        product_id: b.productId[i]!,
        quantity: b.quantity[i]!,
        unit_price_cents: b.unitPrice[i]!,
      });
    from = b.lineEnd[o]!;
  }
  return out;
}

describe('order line blocks', () => {
  const lines = [
    line(1, 10),
    line(1, 11),
    line(1, 10, { quantity: 4 }), // a product twice in one order
    line(2, 12, { status: 'refunded', total_cents: 2 ** 40 }), // a total past 32 bits
    line(5, 13, { status: 'shipped' }),
  ];

  it('round-trip every line, orders grouped with their lines, with 32-bit ids', () => {
    const w = new LineBlockWriter();
    for (const l of lines) w.add(l);
    expect([w.orders, w.lines]).toEqual([3, 5]);
    const bytes = w.encode();
    expect(bytes[1]).toBe(4); // id width
    expect(bytes.length).toBe(16 + 8 * (3 + 5) + 4 * (2 * 3 + 5) + 4 * (3 + 5) + 3);
    expect(linesOf(bytes)).toEqual(lines);
  });

  it('widen the ids to 64 bits when one does not fit 32', () => {
    const wide = [...lines, line(6, 2 ** 40), line(2 ** 33, 1, { customer_pk: 2 ** 35 })];
    const w = new LineBlockWriter();
    for (const l of wide) w.add(l);
    const bytes = w.encode();
    expect(bytes[1]).toBe(8);
    expect(linesOf(bytes)).toEqual(wide);
  });

  it('cut into pieces of at most a size, an order never split, every line once and in order', () => {
    const many: BlockLine[] = [];
    for (let o = 1; o <= 300; o++) for (let k = 0; k < 1 + (o % 4); k++) many.push(line(o, o * 10 + k));
    const w = new LineBlockWriter();
    for (const l of many) w.add(l);
    const whole = w.encode().length;
    for (const maxBytes of [whole, 2000, 500, 60]) {
      const pieces = w.pieces(maxBytes);
      expect(pieces.flatMap((p) => linesOf(p.bytes))).toEqual(many);
      for (const p of pieces) {
        const b = decodeLineBlock(p.bytes);
        expect([p.orders, p.lines]).toEqual([b.orders, b.lines]);
        // a piece over the size holds one order, too large alone
        if (p.bytes.length > maxBytes) expect(p.orders).toBe(1);
      }
      // each piece as full as the next order allows: no two neighbours would fit in one
      if (maxBytes >= 500) expect(pieces.length).toBeLessThanOrEqual(Math.ceil((2 * whole) / maxBytes));
    }
    expect(w.pieces(whole)).toHaveLength(1);
    expect(new LineBlockWriter().pieces(1000)).toEqual([]);
  });

  it('decode bytes that are not 8-byte aligned (copied first)', () => {
    const w = new LineBlockWriter();
    for (const l of lines) w.add(l);
    const bytes = w.encode();
    const shifted = new Uint8Array(bytes.length + 3);
    shifted.set(bytes, 3);
    expect(linesOf(shifted.subarray(3))).toEqual(lines);
  });

  it('concatenate blocks (a day compacted) and reject what they cannot hold', () => {
    const a = new LineBlockWriter();
    for (const l of lines.slice(0, 3)) a.add(l);
    const b = new LineBlockWriter();
    for (const l of lines.slice(3)) b.add(l);
    const whole = new LineBlockWriter();
    whole.addBlock(decodeLineBlock(a.encode()));
    whole.addBlock(decodeLineBlock(b.encode()));
    expect(linesOf(whole.encode())).toEqual(lines);
    expect(() => new LineBlockWriter().add(line(1, 1, { status: 'lost' }))).toThrow(/unknown order status/);
    const bad = a.encode();
    bad[0] = 9;
    expect(() => decodeLineBlock(bad)).toThrow(/unsupported order line block/);
  });

  it('mark the statuses asked for', () => {
    const table = statusCodes(['paid', 'delivered', 'nonsense']);
    expect([...table.subarray(0, 6)]).toEqual([0, 1, 0, 1, 0, 0]);
  });
});
