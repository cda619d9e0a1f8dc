/**
 * Merges sorted runs two at a time until one is left (log2 k passes over the data), with the merge of
 * two runs given: how the sketches fold the runs they keep between merges. No runs gives undefined.
 */
export function mergePairwise<T>(runs: readonly T[], mergeTwo: (a: T, b: T) => T): T | undefined {
  let level = runs;
  while (level.length > 1) {
    const next: T[] = [];
    for (let r = 0; r + 1 < level.length; r += 2) next.push(mergeTwo(level[r]!, level[r + 1]!));
    if (level.length % 2) next.push(level[level.length - 1]!);
    level = next;
  }
  return level[0];
}

/** Two ascending runs merged into the start of `out` (at least as long as both); returns that view. */
export function mergeSortedInto<T extends Int32Array | Float64Array>(a: T, b: T, out: T): T {
  let i = 0;
  let j = 0;
  let o = 0;
  while (i < a.length && j < b.length) out[o++] = a[i]! <= b[j]! ? a[i++]! : b[j++]!;
  while (i < a.length) out[o++] = a[i++]!;
  while (j < b.length) out[o++] = b[j++]!;
  return out.subarray(0, o) as T;
}

/** Ascending typed-array runs merged into one new array (pairwise); no runs gives undefined. */
export function mergeSortedRuns<T extends Int32Array | Float64Array>(runs: readonly T[]): T | undefined {
  return mergePairwise(runs, (a, b) =>
    mergeSortedInto(a, b, new (a.constructor as new (n: number) => T)(a.length + b.length)),
  );
}
