import { describe, expect, it } from 'vitest';
import type { Bucket } from '../../src/domain/sales.js';
import {
  figureBucket,
  PAIR_BUDGET,
  ProductAccumulator,
  pairBudgetFor,
  SCAN_STATE_BYTES,
} from '../../src/sales/product-accumulator.js';

describe('the pair budget of a ranking scan', () => {
  it('grows into what few keys leave of the scan bytes, never below PAIR_BUDGET', () => {
    expect(pairBudgetFor(10)).toBeGreaterThan(PAIR_BUDGET);
    expect(pairBudgetFor(10) * 12 + 10 * 60).toBeLessThanOrEqual(SCAN_STATE_BYTES);
    expect(pairBudgetFor(50_000)).toBeGreaterThan(pairBudgetFor(100_000));
    expect(pairBudgetFor(500_000)).toBe(PAIR_BUDGET); // a large catalog: the floor
    // pairs of 8 bytes (totals in 32 bits): half as many again in the same bytes
    expect(pairBudgetFor(50_000, 8) * 8 + 50_000 * 60).toBeLessThanOrEqual(SCAN_STATE_BYTES);
    expect(pairBudgetFor(50_000, 8)).toBeGreaterThan(1.45 * pairBudgetFor(50_000, 12));
    expect(pairBudgetFor(500_000, 8)).toBe(PAIR_BUDGET);
  });

  it('a scan of few keys reads its pairs in fewer slices by default than at the floor', () => {
    const acc = (): ProductAccumulator => {
      const a = new ProductAccumulator(100);
      // 800,000 orders of one line each over 8 products: 800,000 pairs
      for (let order = 1; order <= 800_000; order++) a.line(order, order % 977, 100, 1 + (order % 8), 1, 100);
      return a;
    };
    expect(800_000).toBeGreaterThan(PAIR_BUDGET);
    expect(800_000).toBeLessThanOrEqual(pairBudgetFor(8));
    expect(acc().endFirstPass()).toBe(1);
    expect(acc().endFirstPass(Number.POSITIVE_INFINITY, PAIR_BUDGET)).toBe(2);
  });
});

describe('the order totals a ranking scan keeps per pair', () => {
  /** Three products with an order per total each, read in slices of one product; each product's bucket. */
  function figures(totals: number[]): { pairBytes: number; buckets: Bucket[] } {
    const a = new ProductAccumulator(10);
    let order = 0;
    const pass = () => {
      order = 0;
      for (const product of [1, 2, 3])
        for (const total of totals) a.line(++order, order, total, product, 1, product);
    };
    pass();
    const slices = a.endFirstPass(Number.POSITIVE_INFINITY, totals.length);
    const buckets: Bucket[] = [];
    for (let s = 0; s < slices; s++) {
      a.startSlice(s);
      pass();
      const f = a.finishSlice();
      for (let m = 0; m < f.keys; m++) buckets.push(figureBucket(f, m));
    }
    return { pairBytes: a.pairBytes, buckets };
  }

  it('takes 4 bytes for a total of whole cents below 2^32, and stays exact', () => {
    const got = figures([7, 2 ** 32 - 1, 3]);
    expect(got.pairBytes).toBe(8);
    for (const b of got.buckets) {
      expect(b.p50_order_value_cents).toBe(7);
      expect(b.p99_order_value_cents).toBe(2 ** 32 - 1);
      expect(b.avg_order_value_cents).toBe(Math.round((2 ** 32 + 9) / 3));
    }
  });

  it('takes 8 for any total past 32 bits, negative or not whole, so none is cut', () => {
    for (const [odd, p50] of [
      [2 ** 32, 2], // cut to 32 bits it would be 0, and the median 1
      [-5, 1],
      [2.5, 2],
    ] as const) {
      const got = figures([1, 2, odd].sort((x, y) => x - y));
      expect(got.pairBytes).toBe(12);
      for (const b of got.buckets) {
        expect(b.p50_order_value_cents).toBe(p50);
        expect(b.p99_order_value_cents).toBe(Math.max(2, odd));
      }
    }
  });
});
