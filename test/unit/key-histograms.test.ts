import { describe, expect, it } from 'vitest';
import { nearestRank } from '../../src/domain/sales.js';
import { BINNED_RELATIVE_ERROR, binOf, binValue, KeyHistograms } from '../../src/sales/key-histograms.js';

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

  it('stand for every whole total of a bin by one within BINNED_RELATIVE_ERROR of it', () => {
    const rand = random(11);
    const totals = Array.from({ length: 300_000 }, (_, i) => i); // every bin narrower than 1000 whole
    for (let i = 0; i < 200_000; i++) totals.push(Math.floor(2 ** (10 + rand() * 29.9)));
    let worst = 0;
    for (const t of totals) {
      const off = Math.abs(binValue(binOf(t)) - t);
      worst = Math.max(worst, t === 0 ? off : off / t);
    }
    expect(worst).toBeLessThanOrEqual(BINNED_RELATIVE_ERROR);
    expect(worst).toBeGreaterThan(BINNED_RELATIVE_ERROR / 2); // the bound is near what it bounds
    for (let t = 0; t < 512; t++) expect(binValue(binOf(t))).toBe(t); // a bin holds one whole total below 512
    expect(() => binValue(binOf(2 ** 41))).toThrow(RangeError);
  });

  it('binned, answer percentiles from the first pass alone within the bound, keeping only the open last bin', () => {
    const rand = random(3);
    const orders: { key: number; customer: number; total: number }[] = [];
    for (let i = 0; i < 30_000; i++)
      orders.push({ key: 0, customer: i % 1000, total: Math.floor(2 ** (rand() * 30)) });
    for (let i = 0; i < 7; i++) orders.push({ key: 1, customer: i, total: 1000 * i + 7 });
    const count = (key: number) => orders.filter((o) => o.key === key).length;
    const binned = new KeyHistograms(999, true);
    for (const o of orders) binned.add(o.key, o.customer, o.total);
    expect(binned.plan([0, 1], count)).toBe(0); // no second pass
    for (const key of [0, 1]) {
      const mine = orders.filter((o) => o.key === key);
      const sorted = Float64Array.from(mine, (o) => o.total).sort();
      const figures = binned.figures(key);
      expect(figures.customers).toBe(new Set(mine.map((o) => o.customer)).size);
      expect(figures.orderValue).toBe(mine.reduce((sum, o) => sum + o.total, 0));
      [50, 95, 99].forEach((p, k) => {
        const exact = nearestRank(sorted, p)!;
        expect(Math.abs(figures.percentiles[k]! - exact)).toBeLessThanOrEqual(exact * BINNED_RELATIVE_ERROR);
      });
    }
    // totals past the last bin's lower edge have no value to stand for them: kept, and selected exactly
    const open = new KeyHistograms(9, true);
    const huge = [2 ** 41, 2 ** 41 + 5, 3 * 2 ** 41, 2 ** 45];
    for (const [i, total] of huge.entries()) open.add(0, i, total);
    expect(open.plan([0], () => huge.length)).toBeGreaterThan(0);
    for (const total of huge) open.collect(0, total);
    expect(open.figures(0).percentiles).toEqual(
      [50, 95, 99].map((p) => nearestRank(Float64Array.from(huge), p)),
    );
  });
});
