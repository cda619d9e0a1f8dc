/**
 * Reading the server's /metrics (Prometheus text format) in tests, benchmarks and tools: the sum of one
 * metric's samples over the label sets that match, 0 when there is none.
 */
export function metricSum(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const match = /^([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    if (Object.entries(labels).every(([k, v]) => (match[2] ?? '').includes(`${k}="${v}"`)))
      sum += Number(match[3]);
  }
  return sum;
}

/** One sample of a running server's metric (see metricSum). */
export async function metricValue(
  url: string,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  return metricSum(await (await fetch(`${url}/metrics`)).text(), name, labels);
}
