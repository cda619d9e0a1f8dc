/**
 * Issue 8's benchmark against a loaded dataset (npm run gen-dataset -- --preset small --insert --data DIR):
 * for Parquet (zstd) and CSV gzip, every order of the first tenant with every field:
 *  1. in-process limit: better-sqlite3 iterating the same query in one pass and encoding the same batches with
 *     the same encoder (apache-arrow + parquet-wasm, zlib), written to a file: no job, no checkpoints, no fsync;
 *  2. the export job through HTTP (POST, poll, done), server RSS sampled throughout;
 *  3. DuckDB's COPY … TO of the same rows (loaded into DuckDB from our Parquet file beforehand).
 *   node dist/perf/export.js --data DIR [--workers 2] [--batch-rows N]   (default: the server's --export-batch-rows)
 * Prints a table and one JSON line; writes perf/results/export.json.
 */

import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import { loadConfig } from '../src/config.js';
import type { ExportCompression, ExportFormat } from '../src/domain/export.js';
import { SEARCH_FIELDS, type SearchRow } from '../src/domain/search.js';
import { createExportEncoder, encodedFile } from '../src/formats/export-encoder.js';
import { buildSearchSql } from '../src/storage/search-sql.js';
import { shardPath } from '../src/storage/shards.js';
import { openDatabase } from '../src/storage/sqlite.js';
import { sampleRss, spawnServer } from '../tools/lib/spawn-server.js';
import { machine, writeResult } from './lib/results.js';

const { values } = parseArgs({
  options: {
    data: { type: 'string', default: './data' },
    workers: { type: 'string', default: '2' },
    'batch-rows': { type: 'string', default: String(loadConfig([], {}).exportBatchRows) },
  },
});
const dataDir = values.data!;
const batchRows = Number(values['batch-rows']);
const keys = JSON.parse(readFileSync(join(dataDir, 'keys.json'), 'utf8')) as {
  tenant_id: number;
  api_key: string;
}[];
const { tenant_id: tenantId, api_key: apiKey } = keys[0]!;
const scratch = mkdtempSync(join(tmpdir(), 'orderflow-export-perf-'));
const r1 = (n: number) => Math.round(n * 10) / 10;
const mb = (n: number) => r1(n / 2 ** 20);

const CASES: { name: string; format: ExportFormat; compression: ExportCompression; file: string }[] = [
  { name: 'parquet_zstd', format: 'parquet', compression: 'zstd', file: 'limit.parquet' },
  { name: 'csv_gzip', format: 'csv', compression: 'gzip', file: 'limit.csv.gz' },
];

/** 1. The in-process limit: one query, the same encoder, plain writes. */
async function inProcess(format: ExportFormat, compression: ExportCompression, file: string) {
  const db = openDatabase(shardPath(dataDir, tenantId), { readonly: true });
  const { sql, params } = buildSearchSql({}, SEARCH_FIELDS, null, -1);
  const encoder = await createExportEncoder(format, compression, SEARCH_FIELDS);
  const path = join(scratch, file);
  const fd = openSync(path, 'w');
  const t0 = performance.now();
  // one query iterated in a single pass, cut into the same batches the job encodes
  function* batches(): Generator<SearchRow[]> {
    let batch: SearchRow[] = [];
    for (const row of db.prepare(sql).iterate(...params) as IterableIterator<SearchRow>) {
      batch.push(row);
      if (batch.length === batchRows) {
        yield batch;
        batch = [];
      }
    }
    if (batch.length) yield batch;
  }
  const progress = { rows: 0, bytes: 0 };
  for (const bytes of encodedFile(encoder, batches(), progress)) writeSync(fd, bytes);
  closeSync(fd);
  db.close();
  return { seconds: (performance.now() - t0) / 1000, rows: progress.rows, bytes: progress.bytes, path };
}

const headers = { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' };

/** 2. The job through HTTP: POST, then poll its status until it is complete. */
async function job(format: ExportFormat, compression: ExportCompression) {
  const sampler = sampleRss(server.child.pid!, 100);
  const t0 = performance.now();
  const res = await fetch(`${server.url}/api/v1/tenants/${tenantId}/reports/export`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ format, compression }),
  });
  if (res.status !== 202) throw new Error(`export POST ${res.status}: ${await res.text()}`);
  const created = (await res.json()) as { status_url: string };
  let status: { state: string; rows_written: number; size: number; sha256: string; error: string | null };
  for (;;) {
    status = (await (await fetch(`${server.url}${created.status_url}`, { headers })).json()) as typeof status;
    if (status.state === 'complete' || status.state === 'failed') break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const seconds = (performance.now() - t0) / 1000;
  const rss = sampler.stop();
  if (status.state !== 'complete') throw new Error(`export failed: ${status.error}`);
  return { seconds, rows: status.rows_written, bytes: status.size, peakRss: rss.peak, samples: rss.samples };
}

/** 3. DuckDB's own writers over the same rows, loaded into a DuckDB table first. */
async function duckdb(parquetPath: string) {
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  const threads = (await conn.runAndReadAll("SELECT current_setting('threads')")).getRows()[0]![0];
  await conn.run(`CREATE TABLE orders AS SELECT * FROM read_parquet('${parquetPath}')`);
  const timed = async (sql: string, file: string) => {
    const t0 = performance.now();
    await conn.run(sql);
    return { seconds: (performance.now() - t0) / 1000, bytes: statSync(join(scratch, file)).size };
  };
  const parquet = await timed(
    `COPY orders TO '${join(scratch, 'duck.parquet')}' (FORMAT parquet, COMPRESSION zstd)`,
    'duck.parquet',
  );
  const csv = await timed(
    `COPY orders TO '${join(scratch, 'duck.csv.gz')}' (FORMAT csv, HEADER, COMPRESSION gzip)`,
    'duck.csv.gz',
  );
  conn.closeSync();
  return { threads: Number(threads), parquet_zstd: parquet, csv_gzip: csv };
}

// The limits run before the server starts: a long synchronous pass here would leave the client's
// keep-alive sockets to time out unnoticed.
const limits = new Map<string, Awaited<ReturnType<typeof inProcess>>>();
for (const c of CASES) {
  await inProcess(c.format, c.compression, c.file); // warm the page cache the way the job will find it
  limits.set(c.name, await inProcess(c.format, c.compression, c.file));
}
const limitParquet = limits.get('parquet_zstd')!.path;
const server = await spawnServer([
  '--data',
  dataDir,
  '--workers',
  values.workers!,
  '--export-batch-rows',
  String(batchRows),
  '--log-level',
  'warn',
]);
try {
  const results: Record<string, unknown>[] = [];
  const rssSeries: Record<string, [number, number][]> = {};
  for (const c of CASES) {
    const limit = limits.get(c.name)!;
    const run = await job(c.format, c.compression);
    rssSeries[c.name] = run.samples;
    results.push({
      case: c.name,
      rows: run.rows,
      in_process_rows_per_sec: Math.round(limit.rows / limit.seconds),
      job_rows_per_sec: Math.round(run.rows / run.seconds),
      ratio: Math.round((limit.seconds / run.seconds) * 100) / 100,
      job_seconds: r1(run.seconds),
      file_mb: mb(run.bytes),
      in_process_file_mb: mb(limit.bytes),
      peak_server_rss_mb: mb(run.peakRss),
    });
  }
  const duck = await duckdb(limitParquet);
  for (const r of results) {
    const peer = duck[r.case as 'parquet_zstd' | 'csv_gzip'];
    r.duckdb_rows_per_sec = Math.round((r.rows as number) / peer.seconds);
    r.duckdb_file_mb = mb(peer.bytes);
    r.job_vs_duckdb =
      Math.round(((r.job_rows_per_sec as number) / (r.duckdb_rows_per_sec as number)) * 100) / 100;
  }
  const result = {
    benchmark: 'export',
    at: new Date().toISOString(),
    env: machine({ workers: Number(values.workers), batch_rows: batchRows, duckdb_threads: duck.threads }),
    results,
    rss_samples: rssSeries,
  };
  writeResult('export', result);
  const lines = [
    '| case | rows | in-process limit rows/s | job rows/s | job/limit | DuckDB COPY rows/s | job/DuckDB | file MB (ours / DuckDB) | peak server RSS |',
    '|---|---|---|---|---|---|---|---|---|',
    ...results.map(
      (r) =>
        `| ${r.case} | ${r.rows} | ${r.in_process_rows_per_sec} | ${r.job_rows_per_sec} | ${r.ratio} | ${r.duckdb_rows_per_sec} | ${r.job_vs_duckdb} | ${r.file_mb} / ${r.duckdb_file_mb} | ${r.peak_server_rss_mb} MB |`,
    ),
    '',
  ];
  process.stdout.write(lines.join('\n'));
  const { rss_samples: _, ...summary } = result;
  process.stdout.write(`${JSON.stringify(summary)}\n`);
} finally {
  server.child.kill('SIGTERM');
  await server.exited;
  rmSync(scratch, { recursive: true, force: true });
}
