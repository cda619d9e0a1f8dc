import { describe, expect, it } from 'vitest';
import { nearestRank } from '../../src/domain/sales.js';
import { DistinctIds, MARKED_IDS_MAX, placeNearestRanks } from '../../src/sales/order-statistics.js';
import { random } from '../helpers/random.js';

describe('percentiles by selection', () => {
  it('puts each nearest rank where a full sort would, for any size, ties, sorted and reversed runs', () => {
    const next = random(7);
    const shapes: ((n: number) => Float64Array)[] = [
      (n) => Float64Array.from({ length: n }, () => Math.floor(next() * 1e6)),
      (n) => Float64Array.from({ length: n }, () => Math.floor(next() * 3)), // many ties
      (n) => Float64Array.from({ length: n }, (_, i) => i), // sorted
      (n) => Float64Array.from({ length: n }, (_, i) => n - i), // reversed
      (n) => new Float64Array(n).fill(42),
    ];
    for (const make of shapes)
      for (const n of [1, 2, 3, 7, 100, 101, 2_741, 20_000]) {
        const values = make(n);
        const sorted = Float64Array.from(values).sort();
        const percentiles = [50, 95, 99, 1, 100];
        placeNearestRanks(values, percentiles);
        for (const p of percentiles) expect(nearestRank(values, p)).toBe(nearestRank(sorted, p));
        expect(Float64Array.from(values).sort()).toEqual(sorted); // the same values, reordered
      }
  });
});

describe('distinct ids', () => {
  it('counts each run alone, with marks or (ids past the marks) by sorting', () => {
    const next = random(11);
    for (const maxId of [10, 100_000, MARKED_IDS_MAX + 1]) {
      const distinct = new DistinctIds(maxId);
      for (let run = 0; run < 20; run++) {
        const ids = Int32Array.from({ length: 1 + Math.floor(next() * 5000) }, () =>
          Math.floor(next() * maxId),
        );
        expect(distinct.count(Int32Array.from(ids))).toBe(new Set(ids).size);
      }
    }
  });
});
