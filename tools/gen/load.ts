import { createReadStream, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { type Config, loadConfig } from '../../src/config/load.js';
import { defaultWriterLanes } from '../../src/config/options.js';
import type { ChunkSummary, IngestKind } from '../../src/domain/ingest-kinds.js';
import { poolRunner } from '../../src/ingest/chunk-runners.js';
import { dispatchIngest } from '../../src/ingest/ingest-dispatch.js';
import { ShardWriteQueue } from '../../src/ingest/write-queue.js';
import { WalCheckpointer } from '../../src/jobs/checkpointer.js';
import { createLogger } from '../../src/obs/logger.js';
import { Metrics } from '../../src/obs/metrics.js';
import { WorkerPool } from '../../src/pool/pool.js';
import { openCatalog } from '../../src/storage/open-catalog.js';
import { tenantDir } from './write-files.js';

export interface LoadOptions {
  out: string;
  /** SQLite: the data directory written; PostgreSQL: where keys.json goes */
  dataDir: string;
  /** PostgreSQL to load into (the tenants and their rows), or null for SQLite shards under dataDir */
  databaseUrl: string | null;
  /** PostgreSQL: transactions writing one tenant at once (the server's --postgres-writers-per-tenant) */
  writersPerTenant: number;
  tenants: number;
  workers: number;
  chunkBytes: number;
  batchRows: number;
  /** chunks per tenant parsed or waiting for their commit at once */
  inFlight: number;
  commitRows: number;
  writerCacheMiB: number;
}

/** Load options with the server's ingest defaults for everything not given. */
export function loadOptions(
  given: Pick<LoadOptions, 'out' | 'dataDir' | 'tenants'> & Partial<LoadOptions>,
): LoadOptions {
  const server = loadConfig([], {});
  return {
    databaseUrl: null,
    writersPerTenant: server.storage.postgresWritersPerTenant,
    workers: 2,
    chunkBytes: server.ingest.chunkBytes,
    batchRows: server.ingest.batchRows,
    inFlight: server.ingest.inFlight,
    commitRows: server.ingest.commitRows,
    writerCacheMiB: server.sqlite.writerCacheMiB,
    ...given,
  };
}

export interface TableLoad {
  table: IngestKind;
  rows_inserted: number;
  rows_duplicate: number;
  rows_failed: number;
  seconds: number;
  rows_per_sec: number;
  /** the rate over the first and the last tenth of the rows: whether loading slows as shards grow */
  first_tenth_rows_per_sec: number;
  last_tenth_rows_per_sec: number;
}

/** Rows committed over time, across every tenant loading at once. */
class LoadProgress {
  private readonly points: [ms: number, rows: number][] = [];
  private rows = 0;

  constructor(private readonly start: number) {}

  /** Parts committed in one transaction report within a millisecond: they count as one point, at its end. */
  add(rows: number): void {
    this.rows += rows;
    const now = performance.now() - this.start;
    const last = this.points.at(-1);
    if (last && now - last[0] < 1) this.points[this.points.length - 1] = [last[0], this.rows];
    else this.points.push([now, this.rows]);
  }

  /** Rates over (about) the first and the last 10% of the rows, from the chunk commits around those marks. */
  tenths(): { first_tenth_rows_per_sec: number; last_tenth_rows_per_sec: number } {
    const [t10, r10] = this.points.find(([, rows]) => rows >= 0.1 * this.rows) ?? [0, 0];
    const [t90, r90] = this.points.findLast(([, rows]) => rows < 0.9 * this.rows) ?? [0, 0];
    const [tEnd] = this.points.at(-1) ?? [0];
    const rate = (rows: number, ms: number) => (ms > 0 ? Math.round((rows * 1000) / ms) : 0);
    return {
      first_tenth_rows_per_sec: rate(r10, t10),
      last_tenth_rows_per_sec: rate(this.rows - r90, tEnd - t90),
    };
  }
}

export interface TenantKey {
  tenant_id: number;
  name: string;
  api_key: string;
  dir: string;
}

const TABLES: IngestKind[] = ['products', 'orders', 'price_history', 'stock_events'];

function fileFor(dir: string, table: string): { path: string; gzip: boolean } {
  const plain = join(dir, `${table}.ndjson`);
  if (existsSync(plain)) return { path: plain, gzip: false };
  const gz = `${plain}.gz`;
  if (existsSync(gz)) return { path: gz, gzip: true };
  throw new Error(`missing ${plain}(.gz): --insert loads the NDJSON files (use --format ndjson or both)`);
}

function open(file: { path: string; gzip: boolean }): AsyncIterable<Uint8Array> {
  const raw = createReadStream(file.path, { highWaterMark: 1 << 20 });
  return file.gzip ? raw.pipe(createGunzip({ chunkSize: 1 << 20 })) : raw;
}

/** The catalog the load writes its tenants into: SQLite's beside the shards, or PostgreSQL's. */
function loaderConfig(o: LoadOptions): Config {
  const storage = o.databaseUrl ? ['--storage', 'postgres', '--database-url', o.databaseUrl] : [];
  return loadConfig(['--data', o.dataDir, ...storage], {});
}

/** Creates (or reuses) the tenants and writes their keys to <data>/keys.json and <out>/keys.json. */
export async function ensureTenants(o: LoadOptions): Promise<TenantKey[]> {
  mkdirSync(o.dataDir, { recursive: true });
  const { catalog, close } = await openCatalog(loaderConfig(o));
  try {
    const keys: TenantKey[] = [];
    for (let t = 1; t <= o.tenants; t++) {
      const name = `gen-${String(t).padStart(2, '0')}`;
      const existing = await catalog.findTenant(name);
      const tenant =
        existing === null
          ? await catalog.createTenant(name)
          : { tenant_id: existing, ...(await catalog.createKey(existing)) };
      keys.push({ tenant_id: tenant.tenant_id, name, api_key: tenant.api_key, dir: tenantDir(o.out, t) });
    }
    const text = `${JSON.stringify(keys, null, 2)}\n`;
    writeFileSync(join(o.dataDir, 'keys.json'), text, { mode: 0o600 });
    writeFileSync(join(o.out, 'keys.json'), text, { mode: 0o600 });
    return keys;
  } finally {
    await close();
  }
}

/**
 * Loads every tenant's files through the service's own ingest path (line chunks -> pool workers -> parse,
 * validate, raw-SQL batch insert), tenants in parallel, one table after the other so each is timed alone.
 */
export async function loadDataset(o: LoadOptions, keys: TenantKey[]): Promise<TableLoad[]> {
  // a lane per tenant loaded at once (up to the cores): tenants are written in parallel
  const pool = new WorkerPool(
    {
      workers: o.workers,
      writerLanes: Math.min(keys.length, Math.max(defaultWriterLanes(o.workers), o.workers)),
      laneTasks: o.databaseUrl ? o.writersPerTenant : 1,
      sqlite: { writerCacheMiB: o.writerCacheMiB },
      tasksPerWorker: 1,
      dataDir: o.dataDir,
      logLevel: 'warn',
      workerData: {
        storage: { kind: o.databaseUrl ? 'postgres' : 'sqlite', databaseUrl: o.databaseUrl },
      },
    },
    new Metrics(),
  );
  // a shard's WAL is checkpointed as it grows; PostgreSQL has none of ours to tend
  const checkpoints = o.databaseUrl
    ? null
    : new WalCheckpointer(pool, createLogger('warn', { thread: 'main' }));
  const writes = new ShardWriteQueue(pool, {
    commitRows: o.commitRows,
    writersPerShard: o.databaseUrl ? o.writersPerTenant : 1,
    onWritten: (tenantId) => checkpoints?.request(tenantId),
  });
  const report: TableLoad[] = [];
  try {
    for (const table of TABLES) {
      const start = performance.now();
      const progress = new LoadProgress(start);
      const results: ChunkSummary[] = await Promise.all(
        keys.map((k) =>
          dispatchIngest(poolRunner(pool, writes), open(fileFor(k.dir, table)), {
            kind: table,
            tenantId: k.tenant_id,
            requestId: 'gen-dataset',
            chunkBytes: o.chunkBytes,
            maxLineBytes: 1 << 20,
            batchRows: o.batchRows,
            maxInFlight: o.inFlight,
            maxErrors: 20,
            onProgress: (_s, chunk) => progress.add(chunk.lines),
          }),
        ),
      );
      const seconds = (performance.now() - start) / 1000;
      const sum = (f: (s: ChunkSummary) => number) => results.reduce((n, s) => n + f(s), 0);
      const failed = sum((s) => s.failed);
      if (failed > 0) {
        const first = results.flatMap((s) => s.errors).slice(0, 5);
        throw new Error(`${failed} ${table} rows failed to load, e.g. ${JSON.stringify(first)}`);
      }
      const inserted = sum((s) => s.inserted);
      report.push({
        table,
        rows_inserted: inserted,
        rows_duplicate: sum((s) => s.duplicate),
        rows_failed: failed,
        seconds: Math.round(seconds * 1000) / 1000,
        rows_per_sec: Math.round(inserted / seconds),
        ...progress.tenths(),
      });
    }
    await Promise.all(
      keys.map((k) => pool.run('settleStock', { requestId: 'gen-dataset', tenantId: k.tenant_id })),
    );
  } finally {
    await pool.close();
  }
  return report;
}
