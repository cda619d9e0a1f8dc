import type pg from 'pg';
import type { Config } from '../config/load.js';
import type { Admission } from '../http/admission.js';
import type { StorageHealth } from '../http/health.js';
import type { ApiSpec } from '../http/openapi.js';
import type { StorageFaults } from '../http/storage-faults.js';
import type { StreamGate } from '../http/stream-gate.js';
import type { ShardWriteQueue } from '../ingest/write-queue.js';
import type { ExportJobs } from '../jobs/export-jobs.js';
import type { UploadJobs } from '../jobs/upload-jobs.js';
import type { Logger } from '../obs/logger.js';
import type { Metrics } from '../obs/metrics.js';
import type { WorkerPool } from '../pool/pool.js';
import type { AnomalyBus } from '../prices/anomaly-bus.js';
import type { CatalogStore } from '../storage/catalog-store.js';

/** Everything a route module may use; passed explicitly, no globals. */
export interface AppDeps {
  config: Config;
  catalog: CatalogStore;
  /** anomalies as they commit, for this process's change streams */
  anomalies: AnomalyBus;
  /** the main thread's PostgreSQL pool with --storage postgres (shared rate limits), else null */
  postgres: pg.Pool | null;
  pool: WorkerPool;
  /** group commit of parsed ingest chunks on the writer lanes */
  writes: ShardWriteQueue;
  metrics: Metrics;
  log: Logger;
  admission: Admission;
  /** caps on concurrent streams per key, tenant and server */
  streams: StreamGate;
  /** HMAC key of search cursors, kept in the catalog so tokens survive restarts. */
  cursorSecret: string;
  /** the OpenAPI document the routes add their operations to */
  openapi: ApiSpec;
  exports: ExportJobs;
  uploads: UploadJobs;
  /** damaged tenants and disk space, as requests have found them */
  health: StorageHealth;
  faults: StorageFaults;
  state: { ready: boolean; draining: boolean; bootId: string };
  /** aborted when shutdown stops waiting for in-flight requests: bodies still arriving end with a 503 */
  shutdown: AbortSignal;
  /** Aborted when the server stops taking requests (SIGTERM): streams with no end of their own (SSE) end then. */
  drain: AbortSignal;
}
