import { randomBytes, randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import { pathToFileURL } from 'node:url';
import { serve } from '@hono/node-server';
import { createApp } from './app.js';
import { helpText } from './config/help.js';
import { type Config, ConfigError, loadConfig } from './config/load.js';
import { Admission } from './http/admission.js';
import { StorageHealth } from './http/health.js';
import { lingerOnEarlyAnswers } from './http/lingering-close.js';
import { ApiSpec } from './http/openapi.js';
import { StorageFaults } from './http/storage-faults.js';
import { StreamGate } from './http/stream-gate.js';
import { ShardWriteQueue } from './ingest/write-queue.js';
import { WalCheckpointer } from './jobs/checkpointer.js';
import { ExportJobs } from './jobs/export-jobs.js';
import { startJournalBackfill } from './jobs/journal-backfill.js';
import { startPgRollupRefresher } from './jobs/pg-rollup-refresher.js';
import { RollupRefresher } from './jobs/rollup-refresher.js';
import { UploadJobs } from './jobs/upload-jobs.js';
import { missingServerSettings } from './node-flags.js';
import { createLogger } from './obs/logger.js';
import { loadMallocTrim, startMemoryTrimming } from './obs/memory-trim.js';
import { Metrics } from './obs/metrics.js';
import { WorkerPool } from './pool/pool.js';
import { AnomalyBus } from './prices/anomaly-bus.js';
import { listenForAnomalies } from './prices/anomaly-notifications.js';
import type { AppDeps } from './routes/deps.js';
import { openCatalog, StorageConfigError } from './storage/open-catalog.js';
import { HEARTBEAT_MS, registerBoot } from './storage/postgres/boots.js';
import { orphanedExports } from './storage/postgres/exports.js';
import { startBucketSweep } from './storage/postgres/rate-buckets.js';
import { orphanedUploads } from './storage/postgres/uploads.js';
import { prepareShard } from './storage/shards.js';
import { TenantDirectory } from './storage/tenant-directory.js';
import { FileStaging } from './uploads/file-staging.js';
import { PostgresStaging } from './uploads/postgres-staging.js';

/** Tenants created by another server (or the offline CLI) reach this one's background jobs within this. */
const TENANT_LIST_REFRESH_MS = 30_000;
/** How often idle rate buckets are swept from PostgreSQL. */
const BUCKET_SWEEP_MS = 600_000;
/** While draining, how often connections that went idle are closed. */
const IDLE_SWEEP_MS = 100;
/** After the shutdown timeout, how long in-flight requests get to commit what they hold and answer. */
const SHUTDOWN_ANSWER_GRACE_MS = 10_000;
/** One background rollup refresh runs at most this long before it is scheduled again (checkpoints share its thread). */
const ROLLUP_REFRESH_RUN_BUDGET_MS = 1000;

export interface RunningServer {
  port: number;
  deps: AppDeps;
  stop(): Promise<void>;
}

/** Opens storage (migrating the catalog and every shard), starts the pool, and serves HTTP. */
export async function startServer(config: Config): Promise<RunningServer> {
  const log = createLogger(config.server.logLevel, { thread: 'main' });
  const opened = await openCatalog(config, (error) =>
    log.warn({ err: error }, 'an idle PostgreSQL connection failed'),
  );
  const bootId = randomUUID();
  // on PostgreSQL other servers see this one alive while it runs (idempotency keys it holds stay its own)
  const boot = opened.postgres
    ? await registerBoot(opened.postgres, bootId, (error) =>
        log.warn({ err: error }, 'boot heartbeat failed'),
      )
    : null;
  const directory = new TenantDirectory(opened.catalog);
  await directory.start(TENANT_LIST_REFRESH_MS, (error) =>
    log.warn({ err: error }, 'refreshing the tenant list failed'),
  );
  const catalog = directory.tracking();
  const health = new StorageHealth(config.server.dataDir, config.server.minFreeDiskMb * 1024 * 1024, log);
  // A shard that cannot be opened or migrated takes its own tenant down, not the server.
  for (const t of opened.sqlite?.tenants() ?? []) {
    try {
      prepareShard(config.server.dataDir, t.tenant_id);
    } catch (error) {
      health.tenantDown(
        t.tenant_id,
        `${(error as { code?: string }).code ?? 'error'}: ${(error as Error).message}`,
      );
    }
  }
  const metrics = new Metrics();
  const cursorSecret = await catalog.stableSetting('cursor_secret', () =>
    randomBytes(32).toString('base64url'),
  );
  // SQLite: one writer a shard; PostgreSQL: several transactions of one tenant at once
  const writersPerTenant = config.storage.kind === 'postgres' ? config.storage.postgresWritersPerTenant : 1;
  const pool = new WorkerPool(
    {
      workerData: {
        cursorSecret,
        storage: { kind: config.storage.kind, databaseUrl: config.storage.databaseUrl },
      },
      workers: config.pool.workers,
      tasksPerWorker: config.pool.tasksPerWorker,
      writerLanes: config.pool.writerLanes,
      laneTasks: writersPerTenant,
      sqlite: config.sqlite,
      onAbandonedLocks: (slots) =>
        log.error(
          { lock_slots: slots },
          'a worker thread died holding shard write locks: released (SQLite rolled back its transaction)',
        ),
      heap: { youngMb: config.pool.youngMb, oldMb: config.pool.oldMb },
      dataDir: config.server.dataDir,
      logLevel: config.server.logLevel,
    },
    metrics,
  );
  const checkpoints = new WalCheckpointer(pool, log);
  // on PostgreSQL (issue 17) there is no shard to checkpoint, and its pre-aggregates have their own
  // refresher (below)
  const onSqlite = config.storage.kind === 'sqlite';
  const rollups =
    onSqlite && config.sales.rollupRefresh === 'background'
      ? new RollupRefresher(pool, log, {
          delayMs: config.sales.rollupRefreshDelayMs,
          maxLagMs: config.sales.rollupRefreshMaxLagMs,
          runBudgetMs: ROLLUP_REFRESH_RUN_BUDGET_MS,
          loading: (tenantId) => writes.writing(tenantId),
        })
      : null;
  const writes = new ShardWriteQueue(pool, {
    commitRows: onSqlite ? config.ingest.commitRows : config.storage.postgresCommitRows,
    writersPerShard: writersPerTenant,
    onWritten: (tenantId, kind) => {
      if (onSqlite) checkpoints.request(tenantId);
      // only orders feed the sales pre-aggregates
      if (kind === 'orders') rollups?.written(tenantId);
    },
  });
  metrics.watchWriteQueue(() => writes.waiting);
  const admission = new Admission(pool, config.pool, metrics);
  const faults = new StorageFaults(pool, health, log);
  // streams may hold all but one task slot per worker: short requests (a product lookup) always find one
  const streams = new StreamGate(
    {
      total: Math.max(1, pool.capacity - config.pool.workers),
      perTenant: config.streams.maxPerTenant,
      perKey: config.streams.maxPerKey,
    },
    metrics,
  );
  // tenants whose shard is unavailable are left out of background work (upload and export resumption, sweeps)
  const tenantIds = () => directory.ids().filter((id) => !health.outage(id));
  const shared = opened.postgres;
  const exports = new ExportJobs({
    pool,
    metrics,
    log,
    tenantIds,
    bootId,
    // on PostgreSQL a job a stopped server left is taken over ALIVE_MS after its last heartbeat, give or take this
    adoptEveryMs: shared ? HEARTBEAT_MS : null,
    ...(shared ? { findUnfinished: () => orphanedExports(shared) } : {}),
    options: {
      concurrency: config.export.concurrency,
      parts: config.export.parts,
      batchRows: config.export.batchRows,
      maxRowsPerSecond: config.export.maxRowsPerS,
      retentionMs: config.export.retentionS * 1000,
      sweepIntervalMs: Math.min(60_000, config.export.retentionS * 1000),
    },
  });
  const uploads = new UploadJobs({
    pool,
    writes,
    config,
    log,
    tenantIds,
    budget: admission.ingestBudget,
    // on PostgreSQL an upload's bytes are rows any server behind a load balancer reads and writes
    staging: shared ? new PostgresStaging(shared) : new FileStaging(config.server.dataDir),
    bootId,
    // an upload a stopped server left is picked up ALIVE_MS after its last heartbeat, give or take this
    adoptEveryMs: shared ? HEARTBEAT_MS : null,
    ...(shared ? { findUnfinished: () => orphanedUploads(shared) } : {}),
  });
  /** Aborted when shutdown stops waiting: bodies still arriving end, and their requests answer 503 with counts. */
  const shutdown = new AbortController();
  const drain = new AbortController();
  // the price webhook's shared rate buckets: rows of products and tenants gone quiet are removed
  const stopBucketSweep = opened.postgres
    ? startBucketSweep(opened.postgres, BUCKET_SWEEP_MS, (error) =>
        log.warn({ err: error }, 'sweeping idle rate buckets failed'),
      )
    : null;
  // the sales pre-aggregates on PostgreSQL: pending writes folded in by the background refresher
  const stopPgRollups = opened.postgres
    ? startPgRollupRefresher(pool, opened.postgres, log, (tenantId) => writes.writing(tenantId))
    : null;
  const anomalies = new AnomalyBus();
  // on PostgreSQL, anomalies recorded by any server reach this one's change streams
  const notifications =
    config.storage.kind === 'postgres'
      ? await listenForAnomalies(config.storage.databaseUrl!, anomalies, log)
      : null;
  const deps: AppDeps = {
    config,
    catalog,
    anomalies,
    postgres: opened.postgres,
    pool,
    writes,
    metrics,
    log,
    admission,
    streams,
    cursorSecret,
    openapi: new ApiSpec(),
    exports,
    uploads,
    health,
    faults,
    state: { ready: false, draining: false, bootId },
    shutdown: shutdown.signal,
    drain: drain.signal,
  };
  const app = createApp(deps);
  // Unfinished uploads: staging files cut back to their durable offsets and processing resumed at the
  // committed cursors. Done before the first request, so a client's PATCH can never race the truncation.
  await uploads.resume();
  const server = await new Promise<Server>((resolve) => {
    const s = serve(
      {
        fetch: app.fetch,
        port: config.server.port,
        hostname: config.server.host,
        // Node's requestTimeout (300 s) would cut a long ingest body with a bare 408 and no counts; bodies
        // are given their deadlines where they are read (src/http/body-deadline.ts)
        serverOptions: { requestTimeout: 0 },
      },
      () => resolve(s as Server),
    );
  });
  lingerOnEarlyAnswers(server, { ms: 10_000, idleMs: 1000 });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.server.port;
  deps.state.ready = true;
  // The contract promises this line (clients read the port from it), so it is printed at any log level.
  const announce = log.isLevelEnabled('info') ? log : createLogger('info', { thread: 'main' });
  announce.info(
    { port, host: config.server.host, data_dir: config.server.dataDir, workers: config.pool.workers },
    'listening',
  );
  const missing = missingServerSettings();
  if (missing.length > 0)
    log.warn(
      { missing },
      'started without the recommended node flags or malloc settings (npm start sets them): expect more memory under ingest',
    );
  // pre-aggregates left stale by writes before this start (an offline load, a crash) are caught up too
  if (rollups) for (const id of tenantIds()) rollups.written(id);
  // shards from before the order journal get their older orders taken into it, in the background
  const stopJournalBackfill = onSqlite ? startJournalBackfill({ pool, log, tenantIds }) : null;
  const malloc = loadMallocTrim();
  if ('stats' in malloc) metrics.watchMalloc(malloc.stats);
  // memory freed by a finished load goes back to the system once the threads are quiet
  const stopTrimming = startMemoryTrimming(config.pool.memoryTrimMs, pool.threadActivity, metrics, log);
  // unfinished exports resume from their checkpoints in the background
  exports.resume().catch((error) => log.error({ err: error }, 'resuming exports failed'));

  const stop = async () => {
    deps.state.draining = true;
    // change streams end now (clients come back elsewhere with Last-Event-ID): the drain need not wait for them
    drain.abort();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    // a connection whose last request ends during the drain (a change stream ended above, a search that
    // finished) closes then, instead of taking the client's next request or idling to its keep-alive timeout
    const idleSweep = setInterval(() => server.closeIdleConnections(), IDLE_SWEEP_MS);
    let grace: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      // requests still reading a body stop reading and answer what they committed (503, Connection: close)
      log.warn(
        { timeout_ms: config.server.shutdownTimeoutMs },
        'shutdown timeout: in-flight requests are being answered',
      );
      shutdown.abort();
      grace = setTimeout(() => server.closeAllConnections(), SHUTDOWN_ANSWER_GRACE_MS);
    }, config.server.shutdownTimeoutMs);
    await closed;
    clearInterval(idleSweep);
    clearTimeout(timer);
    clearTimeout(grace);
    rollups?.stop();
    stopJournalBackfill?.();
    stopPgRollups?.();
    stopTrimming?.();
    await exports.stop(config.server.shutdownTimeoutMs);
    await uploads.stop();
    await pool.close();
    directory.stop();
    stopBucketSweep?.();
    await notifications?.stop();
    await boot?.stop();
    await opened.close();
    log.info('stopped');
  };
  return { port, deps, stop };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(helpText());
    return;
  }
  let config: Config;
  try {
    config = loadConfig(argv);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`orderflow: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  let running: RunningServer;
  try {
    running = await startServer(config);
  } catch (error) {
    if (error instanceof StorageConfigError) {
      process.stderr.write(`orderflow: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    running.deps.log.info({ signal }, 'draining');
    running.stop().then(
      () => process.exit(0),
      (error) => {
        running.deps.log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

// pathToFileURL: a path with spaces or `%` in it, or no path at all (a thread started from source text)
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
