import { describe, expect, it } from 'vitest';
import { nearestRank } from '../../src/domain/sales.js';
import { binOf, KeyHistograms } from '../../src/sales/key-histograms.js';

/** A deterministic stream of numbers in [0, 1). */
function random(seed: number): () => number {
  let s = seed;
  return () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 2 ** 32;
  };
}

describe('key histograms', () => {
  it('bins never decrease as totals grow, from 0 past the last octave', () => {
    const totals = [0, 0.5, 1, 1.001, 2, 3, 255, 256, 257, 1e6, 1e6 + 1, 2 ** 39, 2 ** 40, 2 ** 52, 1e300];
    for (let i = 1; i < totals.length; i++)
      expect(binOf(totals[i]!)).toBeGreaterThanOrEqual(binOf(totals[i - 1]!));
    expect(binOf(0)).toBe(0);
    expect(binOf(1)).toBe(1);
  });

  it('give each key its exact distinct customers and nearest-rank percentiles in two passes', () => {
    const rand = random(7);
    // keys of very different shapes: one total repeated, a few orders, totals spread over many octaves
    const orders: { key: number; customer: number; total: number }[] = [];
    for (let i = 0; i < 20_000; i++) orders.push({ key: 0, customer: i % 97, total: 1999 });
    for (let i = 0; i < 3; i++) orders.push({ key: 1, customer: i, total: 10 * (i + 1) });
    for (let i = 0; i < 50_000; i++)
      orders.push({ key: 2, customer: Math.floor(rand() * 5000), total: Math.floor(2 ** (rand() * 36)) });
    for (let i = 0; i < 5_000; i++)
      orders.push({ key: 3, customer: 4999, total: i % 2 === 0 ? 0 : 1e12 + i });
    const h = new KeyHistograms(4999);
    for (const o of orders) h.add(o.key, o.customer, o.total);
    const count = (key: number) => orders.filter((o) => o.key === key).length;
    const kept = h.plan([0, 1, 2, 3], count);
    expect(kept).toBeLessThan(orders.length); // only the target bins' totals are kept
    for (const o of orders) h.collect(o.key, o.total);
    for (const key of [0, 1, 2, 3]) {
      const mine = orders.filter((o) => o.key === key);
      const sorted = Float64Array.from(mine, (o) => o.total).sort();
      expect(h.figures(key)).toEqual({
        orderValue: mine.reduce((sum, o) => sum + o.total, 0),
        customers: new Set(mine.map((o) => o.customer)).size,
        percentiles: [50, 95, 99].map((p) => nearestRank(sorted, p)),
      });
    }
  });
});
