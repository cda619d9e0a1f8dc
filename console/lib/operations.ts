/** The operations page's reading of GET /metrics.json (src/obs/metrics.ts `snapshot`). */

export interface DurationSummary {
  count?: number;
  sum_s?: number;
  p50_ms?: number;
  p95_ms?: number;
  p99_ms?: number;
}

export interface MetricsDigest {
  uptime_s: number;
  memory: { rss_bytes: number; heap_used_bytes: number; external_bytes: number };
  event_loop_lag_ms: { p50: number; p99: number };
  pool: { workers: number; running: number; queued: number; writesQueued: number; utilization: number };
  ingest: { rows_per_second: number; pending_bytes: number };
  http: Record<string, DurationSummary>;
  db_queries: Record<string, DurationSummary>;
}

export interface LatencyRow {
  name: string;
  count: number;
  p50_ms: number | null;
  p95_ms: number | null;
}

/** The slowest entries by p95 (the ones an on-call engineer looks at first), at most `limit`. */
export function slowest(summaries: Record<string, DurationSummary>, limit = 8): LatencyRow[] {
  return Object.entries(summaries)
    .filter(([name, s]) => name !== '' && (s.count ?? 0) > 0)
    .map(([name, s]) => ({ name, count: s.count ?? 0, p50_ms: s.p50_ms ?? null, p95_ms: s.p95_ms ?? null }))
    .sort((a, b) => (b.p95_ms ?? -1) - (a.p95_ms ?? -1) || a.name.localeCompare(b.name))
    .slice(0, limit);
}

/** A rolling window of one figure over time, for the small live charts (newest last). */
export class History {
  readonly times: number[] = [];
  readonly values: number[] = [];

  constructor(private readonly capacity: number) {}

  push(timeS: number, value: number): void {
    this.times.push(timeS);
    this.values.push(value);
    if (this.times.length > this.capacity) {
      this.times.shift();
      this.values.shift();
    }
  }
}
