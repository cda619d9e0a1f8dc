import { describe, expect, it } from 'vitest';
import {
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
