import { describe, expect, it } from 'vitest';
import { EVERY_STATUS, SpilledLines } from '../../src/sales/spilled-lines.js';
import { LINE_BLOCK_MAX_BYTES } from '../../src/storage/line-blocks.js';

describe('lines spilled by a product scan', () => {
  it('come back in order, an order with its lines, from blocks under the size limit', () => {
    const spilled = new SpilledLines();
    const lines: number[][] = [];
    for (let order = 1; order <= 5000; order++)
      for (let k = 0; k < 1 + (order % 3); k++)
        lines.push([order, order % 97, order * 10, order + k, 1 + k, 250 + k]);
    for (const l of lines) spilled.line(l[0]!, l[1]!, l[2]!, l[3]!, l[4]!, l[5]!);
    spilled.flush();
    expect(spilled.blocks).toBeGreaterThan(1);
    const back: number[][] = [];
    for (const b of spilled.read())
      for (let o = 0, from = 0; o < b.orders; o++) {
        expect(EVERY_STATUS[b.status[o]!]).toBe(1);
        for (let i = from; i < b.lineEnd[o]!; i++)
          back.push([
            b.orderPk[o]!,
            b.customerPk[o]!,
            b.total[o]!,
            b.productId[i]!,
            b.quantity[i]!,
            b.unitPrice[i]!,
          ]);
        from = b.lineEnd[o]!;
      }
    expect(back).toEqual(lines);
    for (const b of spilled.read())
      expect(b.orders * 21 + b.lines * 16).toBeLessThanOrEqual(LINE_BLOCK_MAX_BYTES);
    spilled.close();
    expect([...spilled.read()]).toEqual([]);
  });
});
