/**
 * A bucket's exact distinct count and percentiles without sorting its runs: the time walk holds every
 * bucket's customers and order values at once (src/sales/time-walk.ts), and sorting them was about half of
 * a year-by-day walk of the order journal. Nearest-rank percentiles need only their ranks in place
 * (selection, linear), and customer ids are dense per shard, so distinct ones are counted with one mark
 * per id (linear) where the ids are small enough for the marks.
 */
import { nearestRankIndex } from '../domain/sales.js';
import { distinctSorted } from './columns.js';

/** Largest customer id counted with marks (a 16 MiB array); above it, a run is sorted. */
export const MARKED_IDS_MAX = 1 << 22;

/**
 * Reorders `values` in place so that the nearest-rank position of each percentile holds what a full sort
 * would put there (quickselect, one percentile after the other on what lies above the previous one).
 */
export function placeNearestRanks(values: Float64Array | Uint32Array, percentiles: readonly number[]): void {
  let from = 0;
  for (const p of [...percentiles].sort((a, b) => a - b)) {
    const k = nearestRankIndex(values.length, p);
    if (k < from) continue; // the same rank as the previous percentile
    select(values, from, values.length - 1, k);
    from = k + 1;
  }
}

/** Puts the k-th smallest of a[lo..hi] at k, smaller ones before it, larger after (Hoare partitions). */
function select(a: Float64Array | Uint32Array, lo: number, hi: number, k: number): void {
  while (hi > lo) {
    // median of three as the pivot: sorted or reversed runs stay linear
    const mid = (lo + hi) >> 1;
    if (a[mid]! < a[lo]!) swap(a, mid, lo);
    if (a[hi]! < a[lo]!) swap(a, hi, lo);
    if (a[hi]! < a[mid]!) swap(a, hi, mid);
    const pivot = a[mid]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) swap(a, i++, j--);
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return; // between the two parts: equal to the pivot
  }
}

function swap(a: Float64Array | Uint32Array, i: number, j: number): void {
  const t = a[i]!;
  a[i] = a[j]!;
  a[j] = t;
}

/**
 * Counts the distinct ids of runs, one run (a bucket) at a time: each id is marked with the run's number
 * the first time the run meets it. Ids above `MARKED_IDS_MAX` are counted by sorting the run instead.
 */
export class DistinctIds {
  private readonly marks: Int32Array | null;
  private run = 0;

  constructor(maxId: number) {
    this.marks = maxId <= MARKED_IDS_MAX ? new Int32Array(maxId + 1) : null;
  }

  /** Distinct ids in `ids` (reordered when sorted). */
  count(ids: Int32Array): number {
    const marks = this.marks;
    if (marks === null) return distinctSorted(ids.sort());
    const run = ++this.run;
    let n = 0;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (marks[id] !== run) {
        marks[id] = run;
        n++;
      }
    }
    return n;
  }
}
