/**
 * Every server option, once, grouped by the component that takes it (`config.ingest`, `config.export`, …).
 * Flags win over environment variables, which win over these defaults (src/config/load.ts). A list of
 * declarations, so a little past ~300 lines.
 */
import { bytes, choice, int, path, secret, text } from './option.js';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
const DAY_S = 24 * 3600;

const cpuCount = { perCores: (cores: number) => cores, shown: 'CPU count' };

/**
 * Writer lanes for a machine with `cores` cores: one per two, so the lanes' inserts and the pool's
 * parsing (about a sixth of an insert's time per row) each have cores to run on.
 */
export function defaultWriterLanes(cores: number): number {
  return Math.max(1, Math.floor(cores / 2));
}

export const OPTIONS = {
  server: {
    port: int('port', 8080, 0, 'HTTP port; 0 picks a free one'),
    host: text('host', '127.0.0.1', 'interface to listen on'),
    dataDir: path('data', './data', 'data directory (catalog, shards, staging)', { env: 'DATA_DIR' }),
    adminToken: secret('admin-token', 'admin bearer token; empty turns admin endpoints off'),
    logLevel: choice(
      'log-level',
      'info',
      ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
      'log level',
    ),
    shutdownTimeoutMs: int('shutdown-timeout-ms', 15_000, 0, 'how long SIGTERM waits for in-flight requests'),
    minFreeDiskMb: int(
      'min-free-disk-mb',
      256,
      0,
      'free space under which /readyz is not ready and new exports and uploads are refused (507; with --storage postgres their bytes go to the database, so /readyz only)',
    ),
  },
  pool: {
    workers: int('workers', cpuCount, 1, 'worker threads in the pool'),
    tasksPerWorker: int(
      'tasks-per-worker',
      4,
      1,
      'concurrent tasks one worker interleaves (streams wait on sockets)',
    ),
    writerLanes: int(
      'writer-lanes',
      { perCores: defaultWriterLanes, shown: 'cores / 2 (at least 1)' },
      0,
      'extra threads that run bulk inserts, a shard always on the same one (0: inserts run in the pool)',
    ),
    youngMb: int(
      'worker-young-mb',
      8,
      1,
      "each worker's V8 young generation (bounds the garbage held between collections)",
    ),
    oldMb: int('worker-old-mb', 128, 16, "each worker's V8 old generation limit"),
    maxQueue: int('max-queue', 64, 0, 'queued pool tasks before new work gets 429'),
    maxQueuePerTenant: int(
      'max-queue-per-tenant',
      32,
      1,
      "queued pool tasks of one tenant before its new work gets 429 (the rest of the queue stays the others')",
    ),
    memoryTrimMs: int(
      'memory-trim-ms',
      5000,
      0,
      'how often an idle server checks whether to hand memory freed by finished work back to the system (malloc_trim; 0: never)',
    ),
    maxIngestPendingBytes: bytes(
      'max-ingest-pending-bytes',
      64 * MiB,
      1,
      'ingest bytes handed to workers and not yet committed before new ingest gets 429',
    ),
  },
  streams: {
    credits: int('stream-credits', 4, 1, 'chunks a streaming worker may run ahead of the socket'),
    chunkBytes: bytes('stream-chunk-bytes', 65_536, 1024, 'target size of one streamed chunk'),
    maxPerTenant: int(
      'max-streams-per-tenant',
      4,
      1,
      'streamed responses (search, direct export, Arrow metrics) one tenant may have open at once (429 beyond)',
    ),
    maxPerKey: int(
      'max-streams-per-key',
      4,
      1,
      'streamed responses one API key may have open at once (429 beyond)',
    ),
    sendTimeoutS: int(
      'stream-send-timeout-s',
      30,
      0,
      'a stream whose client has read nothing for this long while data waits is dropped (0: never)',
    ),
  },
  ingest: {
    mode: choice(
      'ingest-mode',
      'pool',
      ['pool', 'inline'],
      "pool: chunks parsed in worker threads, inserted on the shard's writer lane; inline: both on the event loop",
    ),
    chunkBytes: bytes('ingest-chunk-bytes', MiB, 1024, 'line-aligned body chunk handed to a worker'),
    batchRows: int(
      'ingest-batch-rows',
      2000,
      1,
      'lines per chunk: what one worker task parses, and one transaction in inline mode',
    ),
    inFlight: int(
      'ingest-in-flight',
      32,
      1,
      'chunks of one ingest request or upload being parsed or waiting for their commit at once',
    ),
    commitRows: int(
      'ingest-commit-rows',
      50_000,
      1,
      "rows a writer lane's transaction may gather from the chunks waiting for it (group commit)",
    ),
    maxRowsPerRequest: int(
      'max-rows-per-request',
      50_000_000,
      1,
      'NDJSON lines accepted in one ingest request',
    ),
    idempotencyTtlHours: int('idempotency-ttl-hours', 24, 1, 'how long completed idempotency keys are kept'),
  },
  body: {
    maxBytes: bytes('max-body-bytes', 16 * GiB, 1024, 'largest ingest body on the wire'),
    maxDecompressedBytes: bytes(
      'max-decompressed-bytes',
      64 * GiB,
      1024,
      'largest ingest body after decompression',
    ),
    maxDecompressionRatio: int(
      'max-decompression-ratio',
      100,
      2,
      'decompressed/compressed ratio past which a body is a bomb',
    ),
    maxZipMembers: int(
      'max-zip-members',
      10_000,
      1,
      'entries accepted in one zip archive (each costs work, even an empty one)',
    ),
    maxLineBytes: bytes('max-line-bytes', MiB, 256, 'longest NDJSON line accepted'),
    maxJsonBytes: bytes('max-json-body-bytes', 10 * MiB, 1024, 'largest JSON request body'),
    requestTimeoutS: int(
      'request-timeout-s',
      300,
      0,
      'a JSON request body must have arrived within this (0: no limit); answered 408 body_timeout',
    ),
    ingestTimeoutS: int(
      'ingest-body-timeout-s',
      DAY_S,
      0,
      'an ingest request or tus PATCH body must have arrived within this (0: no limit)',
    ),
    idleTimeoutS: int(
      'body-idle-timeout-s',
      120,
      0,
      'a request body that sends nothing for this long is given up (0: no limit)',
    ),
  },
  storage: {
    kind: choice(
      'storage',
      'sqlite',
      ['sqlite', 'postgres'],
      'sqlite: the catalog and one SQLite file per tenant under --data; postgres: the catalog and tenant data in the PostgreSQL of --database-url, shared by several servers (ingest and tus uploads, search, exports direct and as jobs, metrics from the orders, stock, prices, erasure: docs/postgres.md)',
    ),
    databaseUrl: secret('database-url', 'PostgreSQL connection string, for --storage postgres'),
    postgresPoolMax: int(
      'postgres-pool-max',
      4,
      1,
      "connections the server's main thread keeps to PostgreSQL",
    ),
    postgresWritersPerTenant: int(
      'postgres-writers-per-tenant',
      2,
      1,
      "ingest transactions writing one tenant at once on PostgreSQL, each on its own connection of the writer lane (SQLite: one, the shard's lane)",
    ),
    postgresCommitRows: int(
      'postgres-commit-rows',
      10_000,
      1,
      'rows one ingest transaction gathers on PostgreSQL (--ingest-commit-rows on SQLite): larger ones write no faster there and hold their rows in memory while they run',
    ),
  },
  sqlite: {
    cacheMiB: int(
      'sqlite-cache-mib',
      8,
      1,
      "page cache of a pool worker's shard connections, in MiB, shared by the shards it has open",
    ),
    mmapMiB: int(
      'sqlite-mmap-mib',
      0,
      0,
      "memory-mapped I/O window of every worker's shard connections, in MiB (0: off; mapped pages count as resident memory)",
    ),
    writerCacheMiB: int('writer-cache-mib', 40, 1, "page cache of a writer lane's shard connection, in MiB"),
    writerSynchronous: choice(
      'writer-synchronous',
      'full',
      ['full', 'normal'],
      "full: a writer lane's commit fsyncs the WAL, so acknowledged rows survive power loss; normal: they survive a crash of the process, and power loss once checkpointed",
    ),
  },
  sales: {
    rollupRefresh: choice(
      'rollup-refresh',
      'background',
      ['background', 'on-read'],
      'background: the upkeep thread folds new orders in soon after writes (deltas) and rebuilds what a bulk load left once its writes pause, so reads find it done; on-read: only metrics reads do it (each folds in what was written since the last, and a read after a bulk load sets a slice of the rebuild going)',
    ),
    rollupRefreshDelayMs: int(
      'rollup-refresh-delay-ms',
      10_000,
      0,
      "quiet time after a shard's last write before the background refresh rebuilds for as long as it takes (new orders are folded in sooner: see the max lag); a load sent in several requests is not rebuilt between them",
    ),
    rollupRefreshMaxLagMs: int(
      'rollup-refresh-max-lag-ms',
      1000,
      100,
      'while writes go on, the background refresh still folds in new orders this often (and rebuilds a slice of two days, unless the writes are a bulk load), yielding to the writer; an approx read waits for orders acknowledged 1.5 s ago or more, so it is kept under that',
    ),
    readRefreshBudgetMs: int(
      'metrics-refresh-budget-ms',
      250,
      0,
      'longest a metrics read spends catching up stale pre-aggregates: approx then answers without the rest (it reports how many hours it left out); exact finishes the rebuild, or reads the orders when that is much faster (after a bulk load)',
    ),
  },
  prices: {
    thresholdPct: int(
      'price-threshold-pct',
      20,
      1,
      'a price change of at least this percent against the last accepted price is an anomaly',
    ),
    ratePerProduct: int(
      'price-rate-product',
      5,
      1,
      'price events per second per product (token bucket refill)',
    ),
    burstPerProduct: int(
      'price-burst-product',
      20,
      1,
      'price events a product may send at once (bucket size)',
    ),
    ratePerTenant: int('price-rate-tenant', 2000, 1, 'price events per second per tenant'),
    burstPerTenant: int('price-burst-tenant', 4000, 1, 'price events a tenant may send at once'),
  },
  stock: {
    maxEvents: int('max-stock-events', 10_000, 1, 'events accepted in one stock bulk_update'),
  },
  export: {
    batchRows: int(
      'export-batch-rows',
      4096,
      1,
      'rows per export batch: one Parquet row group, one gzip member, one checkpoint (bounds worker memory)',
    ),
    concurrency: int(
      'export-concurrency',
      1,
      1,
      'export jobs running at once (each holds a worker slot per part); the rest wait in order',
    ),
    parts: int(
      'export-parts',
      cpuCount,
      1,
      'workers one export or long stream uses at once: a job is cut into this many parts of about equal rows; a direct export, or a search page over 4,096 rows, streams in stripes from this many workers (joined in order)',
    ),
    maxRowsPerS: int(
      'export-max-rows-per-s',
      0,
      0,
      'paces each export job to this many rows/s, its parts together (0: as fast as it goes)',
    ),
    retentionS: int(
      'export-retention-s',
      DAY_S,
      1,
      'how long a finished export file is kept before it expires and is deleted',
    ),
    maxJobsPerTenant: int(
      'max-export-jobs-per-tenant',
      4,
      1,
      'export jobs one tenant may have queued or running (429 too_many_exports beyond)',
    ),
    maxBytesPerTenant: bytes(
      'max-export-bytes-per-tenant',
      10 * GiB,
      0,
      'bytes of finished export files one tenant may keep; past it new exports get 413 export_quota_exceeded',
    ),
  },
  upload: {
    expiryS: int(
      'upload-expiry-s',
      DAY_S,
      1,
      'a tus upload that receives no bytes for this long expires (staging file deleted)',
    ),
    maxOpenPerTenant: int(
      'max-open-uploads-per-tenant',
      16,
      1,
      'tus uploads one tenant may have open (receiving or processing; 429 too_many_uploads beyond)',
    ),
    maxBytesPerTenant: bytes(
      'max-upload-bytes-per-tenant',
      64 * GiB,
      0,
      "bytes one tenant's open uploads may declare in all (413 upload_quota_exceeded beyond)",
    ),
  },
} as const;
