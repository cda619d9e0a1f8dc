/**
 * The Prometheus metrics of the server, each declared once with its help text, and the bridge from the
 * workers' observations. Past ~300 lines because it is a list of declarations.
 */
import client from 'prom-client';
import type { MallocStats } from './memory-trim.js';
import type { Observation } from './observations.js';
import { RateMeter } from './rate-meter.js';

const QUANTILES = [0.5, 0.95, 0.99];
const SLIDING = { maxAgeSeconds: 300, ageBuckets: 5 };

export interface PoolStats {
  workers: number;
  running: number;
  queued: number;
  /** tenants with at least one task waiting (the queue serves them in turns) */
  tenantsWaiting: number;
  /** write tasks waiting for their writer lane */
  writesQueued: number;
  utilization: number;
}

/** The process-wide metric registry. Quantiles come from sliding-window summaries (last 5 minutes). */
export class Metrics {
  readonly registry = new client.Registry();
  readonly ingestRate = new RateMeter(10);
  private poolStats: () => PoolStats = () => ({
    workers: 0,
    running: 0,
    queued: 0,
    tenantsWaiting: 0,
    writesQueued: 0,
    utilization: 0,
  });

  readonly httpRequests = new client.Counter({
    name: 'http_requests_total',
    help: 'HTTP requests by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });
  readonly httpDuration = new client.Summary({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration, first byte in to last byte out',
    labelNames: ['method', 'route'] as const,
    percentiles: QUANTILES,
    ...SLIDING,
    registers: [this.registry],
  });
  readonly dbQueryDuration = new client.Summary({
    name: 'db_query_duration_seconds',
    help: 'SQLite statement durations measured inside the workers, by query name',
    labelNames: ['query'] as const,
    percentiles: QUANTILES,
    ...SLIDING,
    registers: [this.registry],
  });
  readonly ingestRows = new client.Counter({
    name: 'ingest_rows_total',
    help: 'Rows ingested, by table',
    labelNames: ['table'] as const,
    registers: [this.registry],
  });
  readonly ingestRowsFailed = new client.Counter({
    name: 'ingest_rows_failed_total',
    help: 'Rows rejected at ingest, by error code',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  readonly ingestTransactionRows = new client.Summary({
    name: 'ingest_transaction_rows',
    help: "Rows in each of the writer lanes' ingest transactions (chunks gathered by group commit)",
    percentiles: QUANTILES,
    ...SLIDING,
    registers: [this.registry],
  });
  readonly ingestBytes = new client.Counter({
    name: 'ingest_bytes_total',
    help: 'Request body bytes read by ingest (after decompression)',
    registers: [this.registry],
  });
  readonly streamRows = new client.Counter({
    name: 'stream_rows_total',
    help: 'Rows streamed to clients, by route',
    labelNames: ['route'] as const,
    registers: [this.registry],
  });
  readonly streamFirstByte = new client.Summary({
    name: 'stream_time_to_first_byte_seconds',
    help: 'Time from task submission to the first streamed chunk',
    labelNames: ['task'] as const,
    percentiles: QUANTILES,
    ...SLIDING,
    registers: [this.registry],
  });
  readonly admissionRejected = new client.Counter({
    name: 'admission_rejected_total',
    help: 'Requests refused with 429, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly memoryTrims = new client.Counter({
    name: 'process_memory_trims_total',
    help: 'Times an idle server handed memory freed inside malloc arenas back to the system (malloc_trim)',
    registers: [this.registry],
  });
  readonly mallocBytes = new client.Gauge({
    name: 'process_malloc_bytes',
    help: 'What the C allocator holds, read at each scrape (glibc mallinfo2): in_use and free inside its arenas (free bytes are resident until returned), mapped in blocks of their own',
    labelNames: ['kind'] as const,
    registers: [this.registry],
    collect: () => {
      const stats = this.mallocStats();
      if (!stats) return;
      this.mallocBytes.set({ kind: 'in_use' }, stats.inUse);
      this.mallocBytes.set({ kind: 'free' }, stats.free);
      this.mallocBytes.set({ kind: 'mapped' }, stats.mapped);
    },
  });
  private mallocStats: () => MallocStats | undefined = () => undefined;

  /** Where the allocator's figures come from (the addon; without it the gauge stays empty). */
  watchMalloc(stats: () => MallocStats | undefined): void {
    this.mallocStats = stats;
  }
  readonly memoryTrimmedBytes = new client.Counter({
    name: 'process_memory_trimmed_bytes_total',
    help: 'Resident memory returned to the system by those trims (RSS before minus after)',
    registers: [this.registry],
  });
  readonly undocumentedProblems = new client.Counter({
    name: 'http_undocumented_problems_total',
    help: "Problems answered with a code their operation's OpenAPI entry does not list (a documentation bug)",
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  readonly sseClients = new client.Gauge({
    name: 'sse_clients',
    help: 'Open Server-Sent Events connections',
    registers: [this.registry],
  });
  readonly ingestPendingBytes = new client.Gauge({
    name: 'ingest_pending_bytes',
    help: 'Ingest bytes handed to workers and not yet committed',
    registers: [this.registry],
  });

  readonly uploadBytes = new client.Counter({
    name: 'upload_bytes_received_total',
    help: 'tus upload bytes made durable in staging files',
    registers: [this.registry],
  });
  readonly exportRows = new client.Counter({
    name: 'export_rows_total',
    help: 'Rows written to export files, by format',
    labelNames: ['format'] as const,
    registers: [this.registry],
  });
  readonly exportBytes = new client.Counter({
    name: 'export_bytes_total',
    help: 'Bytes written to export files, by format',
    labelNames: ['format'] as const,
    registers: [this.registry],
  });
  readonly exportDuration = new client.Summary({
    name: 'export_duration_seconds',
    help: 'Duration of export job attempts that completed, by format',
    labelNames: ['format'] as const,
    percentiles: QUANTILES,
    ...SLIDING,
    registers: [this.registry],
  });
  readonly exportJobs = new client.Counter({
    name: 'export_jobs_total',
    help: 'Export job attempts by outcome (complete, failed, interrupted, worker_failed)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly workerHeap = new client.Gauge({
    name: 'worker_heap_bytes',
    help: "Each worker thread's V8 heap after its latest task: used, total (reserved) and external (Buffers, ArrayBuffers)",
    labelNames: ['thread', 'kind'] as const,
    registers: [this.registry],
  });
  readonly walFramesBehind = new client.Gauge({
    name: 'wal_frames_behind',
    help: "WAL frames a shard's latest background checkpoint could not copy into the database file yet",
    labelNames: ['tenant'] as const,
    registers: [this.registry],
  });
  readonly rollupRebuiltHours = new client.Counter({
    name: 'rollup_rebuilt_hours_total',
    help: 'Hours of metrics pre-aggregates rebuilt, by who rebuilt them: the background refresh or a read',
    labelNames: ['by'] as const,
    registers: [this.registry],
  });
  readonly rollupSliceWait = new client.Summary({
    name: 'rollup_rebuild_slice_wait_seconds',
    help: "How long a slice of a pre-aggregate rebuild asked for by a read waited for the tenant's reads to go quiet before it started",
    percentiles: QUANTILES,
    ...SLIDING,
    registers: [this.registry],
  });
  readonly metricsStaleScans = new client.Counter({
    name: 'metrics_stale_scans_total',
    help: 'Sales answers read from the order journal (or, on shards it does not cover, the orders) because their pre-aggregates were still to be rebuilt after a bulk load, by grouping',
    labelNames: ['group_by'] as const,
    registers: [this.registry],
  });
  readonly journalBackfilledOrders = new client.Counter({
    name: 'order_journal_backfill_orders_total',
    help: "Order ids below the order journal's start taken into it (shards that had orders before migration 020)",
    registers: [this.registry],
  });
  readonly rollupFoldedOrders = new client.Counter({
    name: 'rollup_folded_orders_total',
    help: 'New orders folded into the metrics pre-aggregates, by how: merged as deltas, or their hours marked for a rebuild (a bulk load)',
    labelNames: ['mode'] as const,
    registers: [this.registry],
  });
  readonly rollupRefreshYields = new client.Counter({
    name: 'rollup_refresh_yields_total',
    help: "PostgreSQL pre-aggregate refreshes that stopped early because the tenant's writes started again (a bulk load resumed)",
    registers: [this.registry],
  });
  readonly rollupDirtyHours = new client.Gauge({
    name: 'rollup_dirty_hours',
    help: 'Hours of a shard whose metrics pre-aggregates are stale after the latest background refresh (0: caught up)',
    labelNames: ['tenant'] as const,
    registers: [this.registry],
  });
  private exportStats: () => { running: number; queued: number } = () => ({ running: 0, queued: 0 });

  constructor() {
    client.collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 10 });
    const stats = () => this.pool();
    new client.Gauge({
      name: 'pool_queue_length',
      help: 'Tasks waiting for a worker',
      registers: [this.registry],
      collect() {
        this.set(stats().queued);
      },
    });
    new client.Gauge({
      name: 'pool_queue_tenants',
      help: 'Tenants with tasks waiting for a worker (served in turns, one task each)',
      registers: [this.registry],
      collect() {
        this.set(stats().tenantsWaiting);
      },
    });
    new client.Gauge({
      name: 'pool_write_queue_length',
      help: 'Parsed ingest chunks waiting for their writer lane',
      registers: [this.registry],
      collect() {
        this.set(stats().writesQueued);
      },
    });
    new client.Gauge({
      name: 'pool_tasks_running',
      help: 'Tasks running on workers',
      registers: [this.registry],
      collect() {
        this.set(stats().running);
      },
    });
    new client.Gauge({
      name: 'pool_workers',
      help: 'Worker threads in the pool',
      registers: [this.registry],
      collect() {
        this.set(stats().workers);
      },
    });
    new client.Gauge({
      name: 'pool_utilization_ratio',
      help: 'Share of worker time spent running tasks (Piscina utilization)',
      registers: [this.registry],
      collect() {
        this.set(stats().utilization);
      },
    });
    const exports = () => this.exportStats();
    new client.Gauge({
      name: 'export_jobs_running',
      help: 'Export jobs running now',
      registers: [this.registry],
      collect() {
        this.set(exports().running);
      },
    });
    new client.Gauge({
      name: 'export_jobs_queued',
      help: 'Export jobs waiting for a slot',
      registers: [this.registry],
      collect() {
        this.set(exports().queued);
      },
    });
    const rate = this.ingestRate;
    new client.Gauge({
      name: 'ingest_rows_per_second',
      help: 'Order rows ingested per second over the last 10 seconds',
      registers: [this.registry],
      collect() {
        this.set(rate.perSecond());
      },
    });
  }

  watchPool(stats: () => PoolStats): void {
    this.poolStats = stats;
  }

  /** Chunks waiting in the write queue for their writer lane (they count in pool_write_queue_length). */
  watchWriteQueue(waiting: () => number): void {
    this.writeQueueWaiting = waiting;
  }

  private writeQueueWaiting: () => number = () => 0;

  /** The pool's figures, with chunks waiting in the write queue counted among the queued writes. */
  private pool(): PoolStats {
    const s = this.poolStats();
    return { ...s, writesQueued: s.writesQueued + this.writeQueueWaiting() };
  }

  watchExports(stats: () => { running: number; queued: number }): void {
    this.exportStats = stats;
  }

  /** Applies observations recorded in a worker. */
  apply(observations: readonly Observation[]): void {
    for (const o of observations) {
      switch (o.name) {
        case 'db_query_duration_seconds':
          this.dbQueryDuration.observe({ query: o.labels.query ?? 'unknown' }, o.value);
          break;
        case 'ingest_rows_total':
          this.ingestRows.inc({ table: o.labels.table ?? 'unknown' }, o.value);
          if (o.labels.table === 'orders') this.ingestRate.add(o.value);
          break;
        case 'ingest_transaction_rows':
          this.ingestTransactionRows.observe(o.value);
          break;
        case 'ingest_rows_failed_total':
          this.ingestRowsFailed.inc({ code: o.labels.code ?? 'unknown' }, o.value);
          break;
        case 'stream_rows_total':
          this.streamRows.inc({ route: o.labels.route ?? 'unknown' }, o.value);
          break;
        case 'export_rows_total':
          this.exportRows.inc({ format: o.labels.format ?? 'unknown' }, o.value);
          break;
        case 'export_bytes_total':
          this.exportBytes.inc({ format: o.labels.format ?? 'unknown' }, o.value);
          break;
        case 'export_duration_seconds':
          this.exportDuration.observe({ format: o.labels.format ?? 'unknown' }, o.value);
          break;
        case 'wal_frames_behind':
          this.walFramesBehind.set({ tenant: o.labels.tenant ?? '?' }, o.value);
          break;
        case 'rollup_rebuilt_hours_total':
          this.rollupRebuiltHours.inc({ by: o.labels.by ?? '?' }, o.value);
          break;
        case 'metrics_stale_scans_total':
          this.metricsStaleScans.inc({ group_by: o.labels.group_by ?? '?' }, o.value);
          break;
        case 'order_journal_backfill_orders_total':
          this.journalBackfilledOrders.inc(o.value);
          break;
        case 'rollup_folded_orders_total':
          this.rollupFoldedOrders.inc({ mode: o.labels.mode ?? '?' }, o.value);
          break;
        case 'rollup_refresh_yields_total':
          this.rollupRefreshYields.inc(o.value);
          break;
        case 'rollup_dirty_hours':
          this.rollupDirtyHours.set({ tenant: o.labels.tenant ?? '?' }, o.value);
          break;
        case 'worker_heap_bytes':
          this.workerHeap.set({ thread: o.labels.thread ?? '?', kind: o.labels.kind ?? '?' }, o.value);
          break;
      }
    }
  }

  /** A compact, human-friendly digest for /metrics.json. */
  async snapshot(): Promise<Record<string, unknown>> {
    const all = await this.registry.getMetricsAsJSON();
    const byName = new Map(all.map((m) => [m.name, m]));
    const firstValue = (name: string) =>
      (byName.get(name)?.values as { value: number }[] | undefined)?.[0]?.value ?? 0;
    const quantiles = (name: string, label: string) => {
      const out: Record<string, Record<string, number>> = {};
      const values = (byName.get(name)?.values ?? []) as {
        value: number;
        labels: Record<string, string | number>;
        metricName?: string;
      }[];
      for (const v of values) {
        const key = String(v.labels[label] ?? '');
        const entry = out[key] ?? {};
        out[key] = entry;
        if (v.metricName?.endsWith('_count')) entry.count = v.value;
        else if (v.metricName?.endsWith('_sum')) entry.sum_s = v.value;
        else if (v.labels.quantile !== undefined && Number.isFinite(v.value))
          entry[`p${Math.round(Number(v.labels.quantile) * 100)}_ms`] = round(v.value * 1000);
      }
      return out;
    };
    const mem = process.memoryUsage();
    const pool = this.pool();
    return {
      uptime_s: round(process.uptime()),
      memory: { rss_bytes: mem.rss, heap_used_bytes: mem.heapUsed, external_bytes: mem.external },
      event_loop_lag_ms: {
        p50: round(firstValue('nodejs_eventloop_lag_p50_seconds') * 1000),
        p99: round(firstValue('nodejs_eventloop_lag_p99_seconds') * 1000),
      },
      pool: { ...pool, utilization: round(pool.utilization) },
      ingest: {
        rows_per_second: round(this.ingestRate.perSecond()),
        pending_bytes: firstValue('ingest_pending_bytes'),
      },
      http: quantiles('http_request_duration_seconds', 'route'),
      db_queries: quantiles('db_query_duration_seconds', 'query'),
    };
  }
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}
