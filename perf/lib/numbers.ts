/** `n` rounded to `digits` decimals (one by default): what the result files and tables print. */
export function round(n: number, digits = 1): number {
  return Math.round(n * 10 ** digits) / 10 ** digits;
}

/** `ours / limit`, two decimals: how our figure compares with the outside limit (1 = as fast). */
export function ratio(ours: number, limit: number): number {
  return round(ours / limit, 2);
}

/** Bytes as MiB, one decimal. */
export function mib(bytes: number): number {
  return round(bytes / 2 ** 20);
}

/** The `p`-th percentile (0–100) of `values` in any order, nearest rank; 0 when there are none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
