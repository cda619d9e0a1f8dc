/**
 * Exports against outside limits, on a loaded dataset (npm run gen-dataset -- --preset small --insert --data DIR):
 * every order of the first tenant with every field, through HTTP:
 *  - export jobs: Parquet (zstd), CSV gzip, CSV (POST, poll the status every 50 ms until complete);
 *  - direct streams: CSV, CSV gzip-encoded, Parquet (POST with Accept, body read to the end);
 * each against the plain read of the same rows in process (perf/lib/plain-read.ts), server RSS sampled
 * throughout; then DuckDB's COPY … TO of the same rows (loaded into DuckDB from our Parquet file first).
 *   node dist/perf/export.js --data DIR [--workers 2] [--parts N] [--batch-rows N] [--cases job,stream] [--out NAME]
 * Prints a table and one JSON line; writes perf/results/NAME.json (export.json by default).
 */

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import { loadConfig } from '../src/config/load.js';
import type { ExportCompression, ExportFormat } from '../src/domain/export.js';
import { sampleRss, spawnServer } from '../tools/lib/spawn-server.js';
import { mib, round } from './lib/numbers.js';
import { plainRead } from './lib/plain-read.js';
import { machine, writeResult } from './lib/results.js';

const defaults = loadConfig([], {});
const { values } = parseArgs({
  options: {
    data: { type: 'string', default: './data' },
    workers: { type: 'string', default: '2' },
    parts: { type: 'string', default: String(defaults.export.parts) },
    'batch-rows': { type: 'string', default: String(defaults.export.batchRows) },
    /** only the cases whose name starts with one of these (comma list), e.g. "stream" */
    cases: { type: 'string', default: '' },
    out: { type: 'string', default: 'export' },
  },
});
const dataDir = values.data!;
const keys = JSON.parse(readFileSync(join(dataDir, 'keys.json'), 'utf8')) as {
  tenant_id: number;
  api_key: string;
}[];
const { tenant_id: tenantId, api_key: apiKey } = keys[0]!;
const scratch = mkdtempSync(join(tmpdir(), 'orderflow-export-perf-'));

interface Case {
  name: string;
  kind: 'job' | 'stream';
  format: ExportFormat;
  compression: ExportCompression;
}
const ALL_CASES: Case[] = [
  { name: 'job parquet zstd', kind: 'job', format: 'parquet', compression: 'zstd' },
  { name: 'job csv gzip', kind: 'job', format: 'csv', compression: 'gzip' },
  { name: 'job csv', kind: 'job', format: 'csv', compression: 'none' },
  { name: 'stream parquet zstd', kind: 'stream', format: 'parquet', compression: 'zstd' },
  { name: 'stream csv gzip', kind: 'stream', format: 'csv', compression: 'gzip' },
  { name: 'stream csv', kind: 'stream', format: 'csv', compression: 'none' },
];
const wanted = values.cases!.split(',').filter(Boolean);
const CASES = wanted.length ? ALL_CASES.filter((c) => wanted.some((w) => c.name.startsWith(w))) : ALL_CASES;

const headers = { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' };
const exportUrl = () => `${server.url}/api/v1/tenants/${tenantId}/reports/export`;

/** A job: POST, then poll its status until it is complete; the file is downloaded afterwards (untimed). */
async function job(c: Case) {
  const t0 = performance.now();
  const res = await fetch(exportUrl(), {
    method: 'POST',
    headers,
    body: JSON.stringify({ format: c.format, compression: c.compression }),
  });
  if (res.status !== 202) throw new Error(`export POST ${res.status}: ${await res.text()}`);
  const created = (await res.json()) as { status_url: string; download_url: string };
  let status: { state: string; rows_written: number; size: number; error: string | null };
  for (;;) {
    status = (await (await fetch(`${server.url}${created.status_url}`, { headers })).json()) as typeof status;
    if (status.state === 'complete' || status.state === 'failed') break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const seconds = (performance.now() - t0) / 1000;
  if (status.state !== 'complete') throw new Error(`export failed: ${status.error}`);
  const download = () => fetch(`${server.url}${created.download_url}`, { headers });
  return { seconds, rows: status.rows_written, bytes: status.size, download };
}

/** A direct stream: POST with Accept, the body read to its end as the client receives it. */
async function stream(c: Case, rows: number) {
  const t0 = performance.now();
  const res = await fetch(exportUrl(), {
    method: 'POST',
    headers: {
      ...headers,
      accept: c.format === 'csv' ? 'text/csv' : 'application/vnd.apache.parquet',
      'accept-encoding': c.compression === 'gzip' ? 'gzip' : 'identity',
    },
    body: JSON.stringify({}),
  });
  if (res.status !== 200) throw new Error(`export stream ${res.status}: ${await res.text()}`);
  let bytes = 0;
  for await (const chunk of res.body!) bytes += chunk.byteLength; // fetch gunzips a gzip-encoded body
  return { seconds: (performance.now() - t0) / 1000, rows, bytes, download: null };
}

/** DuckDB's own writers over the same rows, loaded into a DuckDB table first. */
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
  const csvGzip = await timed(
    `COPY orders TO '${join(scratch, 'duck.csv.gz')}' (FORMAT csv, HEADER, COMPRESSION gzip)`,
    'duck.csv.gz',
  );
  conn.closeSync();
  return { threads: Number(threads), parquet, csvGzip };
}

// The limit runs before the server starts: a long synchronous pass here would leave the client's
// keep-alive sockets to time out unnoticed.
const limit = plainRead(dataDir, tenantId);
const server = await spawnServer([
  '--data',
  dataDir,
  '--workers',
  values.workers!,
  '--export-parts',
  values.parts!,
  '--export-batch-rows',
  values['batch-rows']!,
  '--log-level',
  'warn',
]);
try {
  const results: Record<string, unknown>[] = [];
  const rssSeries: Record<string, [number, number][]> = {};
  let parquetPath = '';
  for (const c of CASES) {
    // the previous case's file is written back now, not during this one (as perf/upload does)
    execFileSync('sync');
    const sampler = sampleRss(server.child.pid!, 100);
    const run = c.kind === 'job' ? await job(c) : await stream(c, limit.rows);
    const rss = sampler.stop();
    rssSeries[c.name] = rss.samples;
    if (run.download && c.format === 'parquet') {
      // for DuckDB's run below; outside the sampled span (downloads are measured by their own tests)
      parquetPath = join(scratch, 'ours.parquet');
      writeFileSync(parquetPath, new Uint8Array(await (await run.download()).arrayBuffer()));
    }
    const rate = run.rows / run.seconds;
    results.push({
      case: c.name,
      rows: run.rows,
      seconds: round(run.seconds, 2),
      rows_per_sec: Math.round(rate),
      vs_plain_read: round(rate / limit.rows_per_sec, 2),
      mb: mib(run.bytes),
      peak_server_rss_mb: mib(rss.peak),
    });
  }
  // DuckDB's run needs our Parquet file (the Parquet job's)
  const duck = parquetPath ? await duckdb(parquetPath) : null;
  const peers: Record<string, { seconds: number; bytes: number }> = duck
    ? { 'job parquet zstd': duck.parquet, 'job csv gzip': duck.csvGzip }
    : {};
  for (const r of results) {
    const peer = peers[r.case as string];
    if (!peer) continue;
    r.duckdb_rows_per_sec = Math.round((r.rows as number) / peer.seconds);
    r.duckdb_mb = mib(peer.bytes);
  }
  const result = {
    benchmark: 'export',
    at: new Date().toISOString(),
    env: machine({
      workers: Number(values.workers),
      export_parts: Number(values.parts),
      batch_rows: Number(values['batch-rows']),
      duckdb_threads: duck?.threads ?? null,
    }),
    plain_read: limit,
    results,
    rss_samples: rssSeries,
  };
  writeResult(values.out!, result);
  const lines = [
    `plain read in process: ${limit.rows} rows, ${limit.objects_rows_per_sec} rows/s as objects, ${limit.raw_rows_per_sec} raw`,
    '',
    '| case | rows | s | rows/s | / plain read | MB | peak server RSS MB | DuckDB COPY rows/s (MB) |',
    '|---|---|---|---|---|---|---|---|',
    ...results.map(
      (r) =>
        `| ${r.case} | ${r.rows} | ${r.seconds} | ${r.rows_per_sec} | **${r.vs_plain_read}** | ${r.mb} | ${r.peak_server_rss_mb} | ${r.duckdb_rows_per_sec ? `${r.duckdb_rows_per_sec} (${r.duckdb_mb})` : ''} |`,
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
