/**
 * The worker → main metric bridge. Workers cannot touch the main thread's prom-client registry, so they
 * record plain observations and hand them back with each task result; the main thread applies them.
 */
export type MetricName =
  | 'db_query_duration_seconds'
  | 'ingest_rows_total'
  | 'ingest_rows_failed_total'
  | 'ingest_transaction_rows'
  | 'stream_rows_total'
  | 'export_rows_total'
  | 'export_bytes_total'
  | 'export_duration_seconds'
  | 'worker_heap_bytes'
  | 'wal_frames_behind'
  | 'rollup_dirty_hours'
  | 'rollup_rebuilt_hours_total'
  | 'rollup_folded_orders_total'
  | 'rollup_refresh_yields_total'
  | 'metrics_stale_scans_total'
  | 'order_journal_backfill_orders_total';

export interface Observation {
  name: MetricName;
  labels: Record<string, string>;
  value: number;
}

export class ObservationBuffer {
  private items: Observation[] = [];

  record(name: MetricName, labels: Record<string, string>, value: number): void {
    this.items.push({ name, labels, value });
  }

  /** Times a synchronous database call under a query name. */
  timeQuery<T>(query: string, run: () => T): T {
    const start = performance.now();
    try {
      return run();
    } finally {
      this.record('db_query_duration_seconds', { query }, (performance.now() - start) / 1000);
    }
  }

  drain(): Observation[] {
    const out = this.items;
    this.items = [];
    return out;
  }
}
