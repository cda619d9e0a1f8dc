import { createTenant } from './lib/tenant.js';
/**
 * Issue 4's benchmark: 1M orders POSTed over HTTP in N chunks (plain NDJSON, then gzip), each into a
 * fresh tenant, against the plain better-sqlite3 insert and our writer alone (perf/raw-insert) on the
 * same rows in the same run; server RSS sampled.
 *   node dist/perf/ingest.js --dataset ./datasets/small [--chunks 10] [--workers 2] [--batch-rows N]
 * Dirty pages of the previous phase are flushed (sync) before each timed phase.
 * Prints a table and one JSON line; writes perf/results/ingest.json.
 */

import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import {
  createReadStream,
  createWriteStream,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { loadConfig } from '../src/config/load.js';
import { tenantDir } from '../tools/gen/write-files.js';
import { metricValue } from '../tools/lib/prometheus-text.js';
import { sampleRss, spawnServer } from '../tools/lib/spawn-server.js';
import { ratio, round } from './lib/numbers.js';
import { rawInsertRates } from './lib/raw-baseline.js';
import { machine, writeResult } from './lib/results.js';

const { values } = parseArgs({
  options: {
    dataset: { type: 'string', default: './datasets/small' },
    chunks: { type: 'string', default: '10' },
    workers: { type: 'string', default: '2' },
    /** lines per chunk on the server (what one worker task parses) */
    'batch-rows': { type: 'string', default: String(loadConfig([], {}).ingest.batchRows) },
    /** only the first N orders (quick runs) */
    limit: { type: 'string' },
    /** results file name under perf/results (without .json) */
    out: { type: 'string', default: 'ingest' },
    /** pool (default) or inline: passed to the server as --ingest-mode */
    'ingest-mode': { type: 'string', default: 'pool' },
    /** skip the raw-insert baseline (quick runs; no ratio) */
    'skip-raw': { type: 'boolean', default: false },
    /** passed to the server as --writer-lanes (default: the server's) */
    'writer-lanes': { type: 'string' },
  },
});
const chunks = Number(values.chunks);
const dir = tenantDir(values.dataset!, 1);
const work = mkdtempSync(join(tmpdir(), 'orderflow-ingest-'));
const ADMIN = 'perf-admin';

// Split the orders file into chunk files (plain and gzip), outside any timing.
const lines = Number(
  execFileSync('wc', ['-l', join(dir, 'orders.ndjson')], { encoding: 'utf8' })
    .trim()
    .split(/\s+/)[0],
);
const total = values.limit ? Math.min(lines, Number(values.limit)) : lines;
const perChunk = Math.ceil(total / chunks);
const plainFiles: string[] = [];
{
  let n = 0;
  let out: ReturnType<typeof createWriteStream> | null = null;
  for await (const line of createInterface({
    input: createReadStream(join(dir, 'orders.ndjson')),
    crlfDelay: Number.POSITIVE_INFINITY,
  })) {
    if (n === total) break;
    if (n % perChunk === 0) {
      if (out) {
        out.end();
        await once(out, 'finish');
      }
      const file = join(work, `chunk-${plainFiles.length}.ndjson`);
      plainFiles.push(file);
      out = createWriteStream(file);
    }
    if (!out!.write(`${line}\n`)) await once(out!, 'drain');
    n++;
  }
  out!.end();
  await once(out!, 'finish');
}
const gzipFiles = plainFiles.map((f) => {
  const gz = `${f}.gz`;
  writeFileSync(gz, gzipSync(readFileSync(f), { level: 6 }));
  return gz;
});

execFileSync('sync');
// the outside limit (plain) and our writer alone (ours), on the same rows, in this run
const raw = values['skip-raw']
  ? { plain: Number.NaN, ours: Number.NaN }
  : rawInsertRates(values.dataset!, ['plain', 'ours'], values.limit);

const dataDir = join(work, 'data');
const server = await spawnServer([
  ...(values['writer-lanes'] ? ['--writer-lanes', values['writer-lanes']] : []),
  '--ingest-mode',
  values['ingest-mode']!,
  '--data',
  dataDir,
  '--admin-token',
  ADMIN,
  '--workers',
  values.workers!,
  '--ingest-batch-rows',
  values['batch-rows']!,
  '--log-level',
  'warn',
]);
/** Seconds the server has spent in order insert batches so far (its db_query_duration_seconds sum). */
async function insertSeconds(): Promise<number> {
  return metricValue(server.url, 'db_query_duration_seconds_sum', { query: 'insert_orders_batch' });
}
async function run(name: string, files: string[], headers: Record<string, string>) {
  const { auth } = await createTenant(server.url, ADMIN, name);
  await fetch(`${server.url}/api/v1/ingest/products/`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/x-ndjson' },
    body: createReadStream(join(dir, 'products.ndjson')) as never,
    duplex: 'half',
  } as RequestInit);
  execFileSync('sync'); // the previous phase's dirty pages are written back now, not during this one
  const sampler = sampleRss(server.child.pid!, 100);
  // how responsive the server stays while it ingests: /healthz latency every 100 ms
  const health: number[] = [];
  let probing = true;
  const prober = (async () => {
    while (probing) {
      const h0 = performance.now();
      await (await fetch(`${server.url}/healthz`)).arrayBuffer();
      health.push(performance.now() - h0);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  const perChunkResults = [];
  const insertSeconds0 = await insertSeconds();
  const t0 = performance.now();
  for (const file of files) {
    const c0 = performance.now();
    const res = await fetch(`${server.url}/api/v1/ingest/orders/`, {
      method: 'POST',
      headers: { ...auth, ...headers },
      body: Readable.toWeb(createReadStream(file, { highWaterMark: 1 << 20 })) as never,
      duplex: 'half',
    } as RequestInit);
    const body = (await res.json()) as { rows_inserted: number; rows_failed: number };
    if (res.status !== 200 || body.rows_failed)
      throw new Error(`${name}: HTTP ${res.status} ${JSON.stringify(body).slice(0, 300)}`);
    const seconds = (performance.now() - c0) / 1000;
    perChunkResults.push({
      rows: body.rows_inserted,
      bytes: statSync(file).size,
      seconds: round(seconds * 10) / 10,
      rows_per_sec: Math.round(body.rows_inserted / seconds),
    });
  }
  const seconds = (performance.now() - t0) / 1000;
  const inserting = (await insertSeconds()) - insertSeconds0;
  const rss = sampler.stop();
  probing = false;
  await prober;
  const sortedHealth = health.sort((a, b) => a - b);
  const at = (p: number) =>
    round(sortedHealth[Math.min(sortedHealth.length - 1, Math.ceil(p * sortedHealth.length) - 1)] ?? 0);
  const rows = perChunkResults.reduce((n, c) => n + c.rows, 0);
  return {
    rows,
    healthz_ms: { p50: at(0.5), p99: at(0.99), max: at(1), probes: sortedHealth.length },
    seconds: round(seconds),
    rows_per_sec: Math.round(rows / seconds),
    // time spent inside insert transactions (the server's own timing) over wall time: how busy the
    // shard's one writer was; what is left is parsing and hand-offs the pipeline did not hide
    insert_seconds: round(inserting),
    writer_busy: ratio(inserting, seconds),
    peak_rss_mb: round(rss.peak / 2 ** 20),
    chunks: perChunkResults,
    rss_samples: rss.samples,
  };
}
try {
  const plain = await run('http-plain', plainFiles, { 'content-type': 'application/x-ndjson' });
  const gzip = await run('http-gzip', gzipFiles, {
    'content-type': 'application/x-ndjson',
    'content-encoding': 'gzip',
  });
  const result = {
    benchmark: 'ingest',
    at: new Date().toISOString(),
    env: machine({ workers: Number(values.workers) }),
    ingest_mode: values['ingest-mode'],
    batch_rows: Number(values['batch-rows']),
    orders: total,
    chunks,
    plain_insert_orders_per_sec: raw.plain,
    our_writer_orders_per_sec: raw.ours,
    http_plain_orders_per_sec: plain.rows_per_sec,
    http_gzip_orders_per_sec: gzip.rows_per_sec,
    ratio_http_vs_plain_insert: ratio(plain.rows_per_sec, raw.plain!),
    ratio_http_vs_our_writer: ratio(plain.rows_per_sec, raw.ours!),
    ratio_gzip_vs_plain: ratio(gzip.rows_per_sec, plain.rows_per_sec),
    peak_rss_mb: Math.max(plain.peak_rss_mb, gzip.peak_rss_mb),
    plain,
    gzip,
  };
  writeResult(values.out!, result);
  process.stdout.write(
    [
      '| path | orders/s | peak server RSS |',
      '|---|---|---|',
      `| plain better-sqlite3 insert (minimal indexes, 10k per transaction, 64 MiB cache) | ${result.plain_insert_orders_per_sec} | |`,
      `| our writer alone (same rows, no HTTP, no parsing) | ${result.our_writer_orders_per_sec} | |`,
      `| HTTP NDJSON, ${chunks} requests | ${plain.rows_per_sec} | ${plain.peak_rss_mb} MB |`,
      `| HTTP NDJSON gzip, ${chunks} requests | ${gzip.rows_per_sec} | ${gzip.peak_rss_mb} MB |`,
      `| HTTP / plain insert: ${result.ratio_http_vs_plain_insert}; HTTP / our writer: ${result.ratio_http_vs_our_writer}; gzip / plain NDJSON: ${result.ratio_gzip_vs_plain} | | |`,
      `| /healthz during plain ingest p50 / p99 / max (ms) | ${plain.healthz_ms.p50} / ${plain.healthz_ms.p99} / ${plain.healthz_ms.max} | |`,
      `| writer busy (insert time / wall), plain / gzip | ${plain.writer_busy} / ${gzip.writer_busy} | |`,
      '',
    ].join('\n'),
  );
  const { plain: _p, gzip: _g, ...summary } = result;
  process.stdout.write(`${JSON.stringify(summary)}\n`);
} finally {
  server.child.kill('SIGTERM');
  await server.exited;
  rmSync(work, { recursive: true, force: true });
}
