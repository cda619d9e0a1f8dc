import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { NamedError } from './domain/named-error.js';

/**
 * Writer lanes for a machine with `cores` cores: one per two, so the lanes' inserts and the pool's
 * parsing (about a sixth of an insert's time per row) each have cores to run on.
 */
export function defaultWriterLanes(cores: number): number {
  return Math.max(1, Math.floor(cores / 2));
}

type Kind = 'int' | 'string' | 'enum';

interface OptionSpec {
  flag: string;
  env: string;
  kind: Kind;
  help: string;
  default: string;
  choices?: readonly string[];
  min?: number;
}

/** Every server option: flag, environment variable, default and meaning. `--help` prints this table. */
export const OPTIONS = [
  { flag: 'port', env: 'PORT', kind: 'int', default: '8080', min: 0, help: 'HTTP port; 0 picks a free one' },
  { flag: 'host', env: 'HOST', kind: 'string', default: '127.0.0.1', help: 'interface to listen on' },
  {
    flag: 'data',
    env: 'DATA_DIR',
    kind: 'string',
    default: './data',
    help: 'data directory (catalog, shards, staging)',
  },
  {
    flag: 'admin-token',
    env: 'ADMIN_TOKEN',
    kind: 'string',
    default: '',
    help: 'admin bearer token; empty turns admin endpoints off',
  },
  {
    flag: 'workers',
    env: 'WORKERS',
    kind: 'int',
    default: String(Math.max(1, availableParallelism())),
    min: 1,
    help: 'worker threads in the pool',
  },
  {
    flag: 'tasks-per-worker',
    env: 'TASKS_PER_WORKER',
    kind: 'int',
    default: '4',
    min: 1,
    help: 'concurrent tasks one worker interleaves (streams wait on sockets)',
  },
  {
    flag: 'writer-lanes',
    env: 'WRITER_LANES',
    kind: 'int',
    default: String(defaultWriterLanes(availableParallelism())),
    min: 0,
    help: 'extra threads that run bulk inserts, a shard always on the same one (0: inserts run in the pool)',
  },
  {
    flag: 'worker-young-mb',
    env: 'WORKER_YOUNG_MB',
    kind: 'int',
    default: '8',
    min: 1,
    help: "each worker's V8 young generation (bounds the garbage held between collections)",
  },
  {
    flag: 'worker-old-mb',
    env: 'WORKER_OLD_MB',
    kind: 'int',
    default: '128',
    min: 16,
    help: "each worker's V8 old generation limit",
  },
  {
    flag: 'ingest-mode',
    env: 'INGEST_MODE',
    kind: 'enum',
    default: 'pool',
    choices: ['pool', 'inline'],
    help: "pool: chunks parsed in worker threads, inserted on the shard's writer lane; inline: both on the event loop",
  },
  {
    flag: 'price-threshold-pct',
    env: 'PRICE_THRESHOLD_PCT',
    kind: 'int',
    default: '20',
    min: 1,
    help: 'a price change of at least this percent against the last accepted price is an anomaly',
  },
  {
    flag: 'price-rate-product',
    env: 'PRICE_RATE_PRODUCT',
    kind: 'int',
    default: '5',
    min: 1,
    help: 'price events per second per product (token bucket refill)',
  },
  {
    flag: 'price-burst-product',
    env: 'PRICE_BURST_PRODUCT',
    kind: 'int',
    default: '20',
    min: 1,
    help: 'price events a product may send at once (bucket size)',
  },
  {
    flag: 'price-rate-tenant',
    env: 'PRICE_RATE_TENANT',
    kind: 'int',
    default: '2000',
    min: 1,
    help: 'price events per second per tenant',
  },
  {
    flag: 'price-burst-tenant',
    env: 'PRICE_BURST_TENANT',
    kind: 'int',
    default: '4000',
    min: 1,
    help: 'price events a tenant may send at once',
  },
  {
    flag: 'max-stock-events',
    env: 'MAX_STOCK_EVENTS',
    kind: 'int',
    default: '10000',
    min: 1,
    help: 'events accepted in one stock bulk_update',
  },
  {
    flag: 'max-queue',
    env: 'MAX_QUEUE',
    kind: 'int',
    default: '64',
    min: 0,
    help: 'queued pool tasks before new work gets 429',
  },
  {
    flag: 'max-ingest-pending-bytes',
    env: 'MAX_INGEST_PENDING_BYTES',
    kind: 'int',
    default: String(64 * 1024 * 1024),
    min: 1,
    help: 'ingest bytes handed to workers and not yet committed before new ingest gets 429',
  },
  {
    flag: 'stream-credits',
    env: 'STREAM_CREDITS',
    kind: 'int',
    default: '4',
    min: 1,
    help: 'chunks a streaming worker may run ahead of the socket',
  },
  {
    flag: 'max-streams-per-tenant',
    env: 'MAX_STREAMS_PER_TENANT',
    kind: 'int',
    default: '4',
    min: 1,
    help: 'streamed responses (search, direct export, Arrow metrics) one tenant may have open at once (429 beyond)',
  },
  {
    flag: 'max-streams-per-key',
    env: 'MAX_STREAMS_PER_KEY',
    kind: 'int',
    default: '4',
    min: 1,
    help: 'streamed responses one API key may have open at once (429 beyond)',
  },
  {
    flag: 'stream-send-timeout-s',
    env: 'STREAM_SEND_TIMEOUT_S',
    kind: 'int',
    default: '30',
    min: 0,
    help: 'a stream whose client has read nothing for this long while data waits is dropped (0: never)',
  },
  {
    flag: 'stream-chunk-bytes',
    env: 'STREAM_CHUNK_BYTES',
    kind: 'int',
    default: '65536',
    min: 1024,
    help: 'target size of one streamed chunk',
  },
  {
    flag: 'ingest-chunk-bytes',
    env: 'INGEST_CHUNK_BYTES',
    kind: 'int',
    default: String(1024 * 1024),
    min: 1024,
    help: 'line-aligned body chunk handed to a worker',
  },
  {
    flag: 'ingest-batch-rows',
    env: 'INGEST_BATCH_ROWS',
    kind: 'int',
    default: '2000',
    min: 1,
    help: 'lines per chunk: what one worker task parses, and one transaction in inline mode',
  },
  {
    flag: 'ingest-in-flight',
    env: 'INGEST_IN_FLIGHT',
    kind: 'int',
    default: '32',
    min: 1,
    help: 'chunks of one ingest request or upload being parsed or waiting for their commit at once',
  },
  {
    flag: 'ingest-commit-rows',
    env: 'INGEST_COMMIT_ROWS',
    kind: 'int',
    default: '50000',
    min: 1,
    help: "rows a writer lane's transaction may gather from the chunks waiting for it (group commit)",
  },
  {
    flag: 'rollup-refresh',
    env: 'ROLLUP_REFRESH',
    kind: 'enum',
    default: 'on-read',
    choices: ['background', 'on-read'],
    help: 'on-read: a metrics read folds in the orders written since the last one (deltas; a rebuild after a bulk load); background: the upkeep thread also does it soon after writes, so reads find it done (~40 MB more RSS under a bulk load, perf.md)',
  },
  {
    flag: 'rollup-refresh-delay-ms',
    env: 'ROLLUP_REFRESH_DELAY_MS',
    kind: 'int',
    default: '10000',
    min: 0,
    help: "quiet time after a shard's last write before the background refresh rebuilds for as long as it takes (new orders are folded in sooner: see the max lag); a load sent in several requests is not rebuilt between them",
  },
  {
    flag: 'rollup-refresh-max-lag-ms',
    env: 'ROLLUP_REFRESH_MAX_LAG_MS',
    kind: 'int',
    default: '2000',
    min: 100,
    help: 'while writes go on, the background refresh still folds in new orders this often (and rebuilds a slice of two days, unless the writes are a bulk load), yielding to the writer',
  },
  {
    flag: 'metrics-refresh-budget-ms',
    env: 'METRICS_REFRESH_BUDGET_MS',
    kind: 'int',
    default: '250',
    min: 0,
    help: 'longest an approx metrics read spends catching up stale pre-aggregates before answering without them (it reports how many hours it left out); exact reads catch up fully',
  },
  {
    flag: 'writer-synchronous',
    env: 'WRITER_SYNCHRONOUS',
    kind: 'enum',
    default: 'full',
    choices: ['full', 'normal'],
    help: "full: a writer lane's commit fsyncs the WAL, so acknowledged rows survive power loss; normal: they survive a crash of the process, and power loss once checkpointed",
  },
  {
    flag: 'sqlite-cache-mib',
    env: 'SQLITE_CACHE_MIB',
    kind: 'int',
    default: '8',
    min: 1,
    help: "page cache of a pool worker's shard connections, in MiB, shared by the shards it has open",
  },
  {
    flag: 'sqlite-mmap-mib',
    env: 'SQLITE_MMAP_MIB',
    kind: 'int',
    default: '0',
    min: 0,
    help: "memory-mapped I/O window of every worker's shard connections, in MiB (0: off; mapped pages count as resident memory)",
  },
  {
    flag: 'writer-cache-mib',
    env: 'WRITER_CACHE_MIB',
    kind: 'int',
    default: '56',
    min: 1,
    help: "page cache of a writer lane's shard connection, in MiB",
  },
  {
    flag: 'max-line-bytes',
    env: 'MAX_LINE_BYTES',
    kind: 'int',
    default: String(1024 * 1024),
    min: 256,
    help: 'longest NDJSON line accepted',
  },
  {
    flag: 'max-body-bytes',
    env: 'MAX_BODY_BYTES',
    kind: 'int',
    default: String(16 * 1024 ** 3),
    min: 1024,
    help: 'largest ingest body on the wire',
  },
  {
    flag: 'max-decompressed-bytes',
    env: 'MAX_DECOMPRESSED_BYTES',
    kind: 'int',
    default: String(64 * 1024 ** 3),
    min: 1024,
    help: 'largest ingest body after decompression',
  },
  {
    flag: 'max-decompression-ratio',
    env: 'MAX_DECOMPRESSION_RATIO',
    kind: 'int',
    default: '100',
    min: 2,
    help: 'decompressed/compressed ratio past which a body is a bomb',
  },
  {
    flag: 'max-zip-members',
    env: 'MAX_ZIP_MEMBERS',
    kind: 'int',
    default: '10000',
    min: 1,
    help: 'entries accepted in one zip archive (each costs work, even an empty one)',
  },
  {
    flag: 'max-rows-per-request',
    env: 'MAX_ROWS_PER_REQUEST',
    kind: 'int',
    default: '50000000',
    min: 1,
    help: 'NDJSON lines accepted in one ingest request',
  },
  {
    flag: 'request-timeout-s',
    env: 'REQUEST_TIMEOUT_S',
    kind: 'int',
    default: '300',
    min: 0,
    help: 'a JSON request body must have arrived within this (0: no limit); answered 408 body_timeout',
  },
  {
    flag: 'ingest-body-timeout-s',
    env: 'INGEST_BODY_TIMEOUT_S',
    kind: 'int',
    default: String(24 * 3600),
    min: 0,
    help: 'an ingest request or tus PATCH body must have arrived within this (0: no limit)',
  },
  {
    flag: 'body-idle-timeout-s',
    env: 'BODY_IDLE_TIMEOUT_S',
    kind: 'int',
    default: '120',
    min: 0,
    help: 'a request body that sends nothing for this long is given up (0: no limit)',
  },
  {
    flag: 'idempotency-ttl-hours',
    env: 'IDEMPOTENCY_TTL_HOURS',
    kind: 'int',
    default: '24',
    min: 1,
    help: 'how long completed idempotency keys are kept',
  },
  {
    flag: 'max-json-body-bytes',
    env: 'MAX_JSON_BODY_BYTES',
    kind: 'int',
    default: String(10 * 1024 * 1024),
    min: 1024,
    help: 'largest JSON request body',
  },
  {
    flag: 'export-batch-rows',
    env: 'EXPORT_BATCH_ROWS',
    kind: 'int',
    default: '4096',
    min: 1,
    help: 'rows per export batch: one Parquet row group, one gzip member, one checkpoint (bounds worker memory)',
  },
  {
    flag: 'export-concurrency',
    env: 'EXPORT_CONCURRENCY',
    kind: 'int',
    default: '1',
    min: 1,
    help: 'export jobs running at once (each holds a worker slot per part); the rest wait in order',
  },
  {
    flag: 'export-parts',
    env: 'EXPORT_PARTS',
    kind: 'int',
    default: String(Math.max(1, availableParallelism())),
    min: 1,
    help: 'workers one export or long stream uses at once: a job is cut into this many parts of about equal rows; a direct export, or a search page over 4,096 rows, streams in stripes from this many workers (joined in order)',
  },
  {
    flag: 'export-max-rows-per-s',
    env: 'EXPORT_MAX_ROWS_PER_S',
    kind: 'int',
    default: '0',
    min: 0,
    help: 'paces each export job to this many rows/s, its parts together (0: as fast as it goes)',
  },
  {
    flag: 'export-retention-s',
    env: 'EXPORT_RETENTION_S',
    kind: 'int',
    default: String(24 * 3600),
    min: 1,
    help: 'how long a finished export file is kept before it expires and is deleted',
  },
  {
    flag: 'max-export-jobs-per-tenant',
    env: 'MAX_EXPORT_JOBS_PER_TENANT',
    kind: 'int',
    default: '4',
    min: 1,
    help: 'export jobs one tenant may have queued or running (429 too_many_exports beyond)',
  },
  {
    flag: 'max-export-bytes-per-tenant',
    env: 'MAX_EXPORT_BYTES_PER_TENANT',
    kind: 'int',
    default: String(10 * 1024 ** 3),
    min: 0,
    help: 'bytes of finished export files one tenant may keep; past it new exports get 413 export_quota_exceeded',
  },
  {
    flag: 'max-open-uploads-per-tenant',
    env: 'MAX_OPEN_UPLOADS_PER_TENANT',
    kind: 'int',
    default: '16',
    min: 1,
    help: 'tus uploads one tenant may have open (receiving or processing; 429 too_many_uploads beyond)',
  },
  {
    flag: 'max-upload-bytes-per-tenant',
    env: 'MAX_UPLOAD_BYTES_PER_TENANT',
    kind: 'int',
    default: String(64 * 1024 ** 3),
    min: 0,
    help: "bytes one tenant's open uploads may declare in all (413 upload_quota_exceeded beyond)",
  },
  {
    flag: 'upload-expiry-s',
    env: 'UPLOAD_EXPIRY_S',
    kind: 'int',
    default: String(24 * 3600),
    min: 1,
    help: 'a tus upload that receives no bytes for this long expires (staging file deleted)',
  },
  {
    flag: 'min-free-disk-mb',
    env: 'MIN_FREE_DISK_MB',
    kind: 'int',
    default: '256',
    min: 0,
    help: 'free space under which /readyz is not ready and new exports and uploads are refused (507)',
  },
  {
    flag: 'log-level',
    env: 'LOG_LEVEL',
    kind: 'enum',
    default: 'info',
    choices: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
    help: 'log level',
  },
  {
    flag: 'shutdown-timeout-ms',
    env: 'SHUTDOWN_TIMEOUT_MS',
    kind: 'int',
    default: '15000',
    min: 0,
    help: 'how long SIGTERM waits for in-flight requests',
  },
] as const satisfies readonly OptionSpec[];

type Flag = (typeof OPTIONS)[number]['flag'];

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  adminToken: string | null;
  workers: number;
  tasksPerWorker: number;
  workerYoungMb: number;
  workerOldMb: number;
  maxQueue: number;
  maxIngestPendingBytes: number;
  streamCredits: number;
  streamChunkBytes: number;
  maxStreamsPerTenant: number;
  maxStreamsPerKey: number;
  streamSendTimeoutS: number;
  writerLanes: number;
  ingestChunkBytes: number;
  ingestBatchRows: number;
  ingestInFlight: number;
  ingestCommitRows: number;
  sqliteCacheMiB: number;
  sqliteMmapMiB: number;
  writerCacheMiB: number;
  writerSynchronous: 'full' | 'normal';
  rollupRefresh: 'background' | 'on-read';
  rollupRefreshDelayMs: number;
  rollupRefreshMaxLagMs: number;
  metricsRefreshBudgetMs: number;
  maxLineBytes: number;
  maxBodyBytes: number;
  maxDecompressedBytes: number;
  maxDecompressionRatio: number;
  maxZipMembers: number;
  maxRowsPerRequest: number;
  idempotencyTtlHours: number;
  requestTimeoutS: number;
  ingestBodyTimeoutS: number;
  bodyIdleTimeoutS: number;
  maxJsonBodyBytes: number;
  maxStockEvents: number;
  priceThresholdPct: number;
  priceRateProduct: number;
  priceBurstProduct: number;
  priceRateTenant: number;
  priceBurstTenant: number;
  ingestMode: 'pool' | 'inline';
  exportBatchRows: number;
  exportConcurrency: number;
  exportParts: number;
  exportMaxRowsPerS: number;
  exportRetentionS: number;
  uploadExpiryS: number;
  maxExportJobsPerTenant: number;
  maxExportBytesPerTenant: number;
  maxOpenUploadsPerTenant: number;
  maxUploadBytesPerTenant: number;
  logLevel: string;
  minFreeDiskMb: number;
  shutdownTimeoutMs: number;
}

export class ConfigError extends NamedError {}

/** Flags win over environment variables, which win over defaults. */
export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Config {
  const given = parseFlags(argv);
  const raw = (flag: Flag): string => {
    const spec = OPTIONS.find((o) => o.flag === flag)!;
    return given.get(flag) ?? env[spec.env] ?? spec.default;
  };
  const int = (flag: Flag): number => {
    const spec: OptionSpec = OPTIONS.find((o) => o.flag === flag)!;
    const text = raw(flag);
    const value = Number(text);
    if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < (spec.min ?? 0)) {
      throw new ConfigError(`--${flag} must be an integer >= ${spec.min ?? 0}, got "${text}"`);
    }
    return value;
  };
  const choice = (flag: Flag): string => {
    const spec: OptionSpec = OPTIONS.find((o) => o.flag === flag)!;
    const value = raw(flag);
    if (!spec.choices?.includes(value))
      throw new ConfigError(`--${flag} must be one of ${spec.choices?.join(', ')}`);
    return value;
  };
  const logLevel = choice('log-level');
  return {
    port: int('port'),
    host: raw('host'),
    dataDir: resolve(raw('data')),
    adminToken: raw('admin-token') || null,
    workers: int('workers'),
    tasksPerWorker: int('tasks-per-worker'),
    writerLanes: int('writer-lanes'),
    workerYoungMb: int('worker-young-mb'),
    workerOldMb: int('worker-old-mb'),
    maxQueue: int('max-queue'),
    maxIngestPendingBytes: int('max-ingest-pending-bytes'),
    streamCredits: int('stream-credits'),
    streamChunkBytes: int('stream-chunk-bytes'),
    maxStreamsPerTenant: int('max-streams-per-tenant'),
    maxStreamsPerKey: int('max-streams-per-key'),
    streamSendTimeoutS: int('stream-send-timeout-s'),
    ingestChunkBytes: int('ingest-chunk-bytes'),
    ingestBatchRows: int('ingest-batch-rows'),
    ingestInFlight: int('ingest-in-flight'),
    ingestCommitRows: int('ingest-commit-rows'),
    sqliteCacheMiB: int('sqlite-cache-mib'),
    sqliteMmapMiB: int('sqlite-mmap-mib'),
    writerCacheMiB: int('writer-cache-mib'),
    writerSynchronous: choice('writer-synchronous') as 'full' | 'normal',
    rollupRefresh: choice('rollup-refresh') as 'background' | 'on-read',
    rollupRefreshDelayMs: int('rollup-refresh-delay-ms'),
    rollupRefreshMaxLagMs: int('rollup-refresh-max-lag-ms'),
    metricsRefreshBudgetMs: int('metrics-refresh-budget-ms'),
    maxLineBytes: int('max-line-bytes'),
    maxBodyBytes: int('max-body-bytes'),
    maxDecompressedBytes: int('max-decompressed-bytes'),
    maxDecompressionRatio: int('max-decompression-ratio'),
    maxZipMembers: int('max-zip-members'),
    maxRowsPerRequest: int('max-rows-per-request'),
    exportBatchRows: int('export-batch-rows'),
    exportConcurrency: int('export-concurrency'),
    exportParts: int('export-parts'),
    exportMaxRowsPerS: int('export-max-rows-per-s'),
    exportRetentionS: int('export-retention-s'),
    uploadExpiryS: int('upload-expiry-s'),
    maxExportJobsPerTenant: int('max-export-jobs-per-tenant'),
    maxExportBytesPerTenant: int('max-export-bytes-per-tenant'),
    maxOpenUploadsPerTenant: int('max-open-uploads-per-tenant'),
    maxUploadBytesPerTenant: int('max-upload-bytes-per-tenant'),
    idempotencyTtlHours: int('idempotency-ttl-hours'),
    requestTimeoutS: int('request-timeout-s'),
    ingestBodyTimeoutS: int('ingest-body-timeout-s'),
    bodyIdleTimeoutS: int('body-idle-timeout-s'),
    maxJsonBodyBytes: int('max-json-body-bytes'),
    maxStockEvents: int('max-stock-events'),
    priceThresholdPct: int('price-threshold-pct'),
    priceRateProduct: int('price-rate-product'),
    priceBurstProduct: int('price-burst-product'),
    priceRateTenant: int('price-rate-tenant'),
    priceBurstTenant: int('price-burst-tenant'),
    ingestMode: choice('ingest-mode') as 'pool' | 'inline',
    logLevel,
    minFreeDiskMb: int('min-free-disk-mb'),
    shutdownTimeoutMs: int('shutdown-timeout-ms'),
  };
}

function parseFlags(argv: readonly string[]): Map<string, string> {
  const known = new Set<string>(OPTIONS.map((o) => o.flag));
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new ConfigError(`unexpected argument "${arg}"`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    if (!known.has(name)) throw new ConfigError(`unknown option --${name} (see --help)`);
    let value: string | undefined;
    if (eq !== -1) value = arg.slice(eq + 1);
    else value = argv[++i];
    if (value === undefined) throw new ConfigError(`--${name} needs a value`);
    out.set(name, value);
  }
  return out;
}

/**
 * An option's default as a reader wants it: machine-dependent ones said as a rule, byte counts in MiB or
 * GiB, an empty admin token as "(off)".
 */
export function displayDefault(o: (typeof OPTIONS)[number]): string {
  if (o.flag === 'admin-token') return '(off)';
  if (o.flag === 'workers' || o.flag === 'export-parts') return 'CPU count';
  if (o.flag === 'writer-lanes') return 'cores / 2 (at least 1)';
  const n = Number(o.default);
  if (/bytes/.test(o.flag) && n >= 2 ** 20 && n % 2 ** 20 === 0)
    return n % 2 ** 30 === 0 ? `${n / 2 ** 30} GiB` : `${n / 2 ** 20} MiB`;
  return o.default;
}

/** The README's configuration table, generated from OPTIONS (test/unit/config.test.ts keeps them equal). */
export function optionsMarkdownTable(): string {
  const cell = (text: string) => text.replaceAll('|', '\\|');
  return [
    '| flag | env | default | meaning |',
    '|---|---|---|---|',
    ...OPTIONS.map(
      (o) => `| \`--${o.flag}\` | \`${o.env}\` | ${cell(displayDefault(o))} | ${cell(o.help)} |`,
    ),
  ].join('\n');
}

export function helpText(): string {
  const rows = OPTIONS.map((o) => {
    const def = displayDefault(o);
    return `  --${o.flag.padEnd(26)} ${o.env.padEnd(26)} ${o.help} [default: ${def}]`;
  });
  return [
    'Usage: npm start -- [options]',
    '',
    `  ${'flag'.padEnd(28)} ${'env'.padEnd(26)} meaning`,
    ...rows,
    `  --${'help'.padEnd(26)} ${''.padEnd(26)} this text`,
    '',
  ].join('\n');
}
