import pino from 'pino';
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config/load.js';
import { Admission } from '../../src/http/admission.js';
import { StorageHealth } from '../../src/http/health.js';
import { ApiSpec } from '../../src/http/openapi.js';
import { StorageFaults } from '../../src/http/storage-faults.js';
import type { StreamGate } from '../../src/http/stream-gate.js';
import type { ShardWriteQueue } from '../../src/ingest/write-queue.js';
import type { ExportJobs } from '../../src/jobs/export-jobs.js';
import type { UploadJobs } from '../../src/jobs/upload-jobs.js';
import { Metrics } from '../../src/obs/metrics.js';
import type { WorkerPool } from '../../src/pool/pool.js';
import { AnomalyBus } from '../../src/prices/anomaly-bus.js';
import type { AppDeps } from '../../src/routes/deps.js';
import { Catalog } from '../../src/storage/catalog.js';
import { sqliteCatalogStore } from '../../src/storage/catalog-store.js';
import { removeDir, tempDataDir } from './server.js';

/** What the fake pool's `run` answers for a task: a value, or a thrown error. */
export type TaskAnswer = (task: string, input: Record<string, unknown>) => unknown;

export interface InProcessApp {
  app: ReturnType<typeof createApp>;
  /** Hono's in-process request: no socket, no server */
  request: (path: string, init?: RequestInit) => Promise<Response>;
  deps: AppDeps;
  logs: Record<string, unknown>[];
  /** a tenant created in the real catalog, with its key */
  tenant: { tenant_id: number; api_key: string };
  /** the pool's state as admission sees it */
  pool: { queueSize: number; activeTasks: number; capacity: number; queuedForTenant: number };
  close(): void;
}

/**
 * The real app (middleware, routes, error handling) over a real catalog, with a fake pool whose tasks answer
 * what the test says. For middleware and error paths that need no worker: fast, no child process.
 */
export function inProcessApp(answer: TaskAnswer = () => null, args: string[] = []): InProcessApp {
  const dir = tempDataDir('orderflow-app-');
  const catalog = new Catalog(dir);
  const logs: Record<string, unknown>[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => logs.push(JSON.parse(line)) });
  const state = { queueSize: 0, activeTasks: 0, capacity: 4, queuedForTenant: 0 };
  const pool = {
    get queueSize() {
      return state.queueSize;
    },
    get activeTasks() {
      return state.activeTasks;
    },
    get capacity() {
      return state.capacity;
    },
    queuedFor: () => state.queuedForTenant,
    expectedDelaySeconds: () => 3,
    writeLock: new SharedArrayBuffer(16),
    run: async (task: string, input: Record<string, unknown>) => answer(task, input),
  } as unknown as WorkerPool;
  const config = loadConfig(['--data', dir, '--admin-token', 'admin-token', ...args], {});
  const metrics = new Metrics();
  const health = new StorageHealth(dir, 0, log);
  const deps: AppDeps = {
    config,
    catalog: sqliteCatalogStore(catalog),
    anomalies: new AnomalyBus(),
    postgres: null,
    pool,
    metrics,
    log,
    admission: new Admission(pool, config.pool, metrics),
    cursorSecret: 'secret',
    openapi: new ApiSpec(),
    exports: {} as ExportJobs,
    uploads: {} as UploadJobs,
    writes: {} as ShardWriteQueue,
    health,
    streams: {} as StreamGate,
    faults: new StorageFaults(pool, health, log),
    state: { ready: true, draining: false, bootId: 'boot' },
    shutdown: new AbortController().signal,
    drain: new AbortController().signal,
  };
  const app = createApp(deps);
  const created = catalog.createTenant('acme');
  return {
    app,
    request: async (path, init) => app.request(path, init),
    deps,
    logs,
    tenant: { tenant_id: created.tenant_id, api_key: created.api_key },
    pool: state,
    close() {
      catalog.close();
      removeDir(dir);
    },
  };
}
