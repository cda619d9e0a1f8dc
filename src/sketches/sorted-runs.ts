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
