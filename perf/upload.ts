/**
 * Resumable uploads against the request path (issue 22): the first N orders of a dataset as one NDJSON
 * file (and its gzip), ingested once by a single POST and once through tus with tools/upload, each into a
 * fresh tenant of the same server, plain then gzip, alternating so both see the machine in the same state.
 * Then the upload again, killed (SIGKILL) once half the file is durable on the server and run again to
 * resume: total time, where it resumed, and that every row
 * arrived exactly once. With `--storage postgres`, the server keeps tenants and uploads (their bytes too)
 * in a scratch schema of `--database-url`.
 *   node dist/perf/upload.js --dataset ./datasets/small [--orders 1000000] [--out upload]
 *     [--storage sqlite|postgres] [--database-url URL]
 * Prints a table and one JSON line; writes perf/results/<out>.json.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { PROJECT_ROOT } from '../src/paths.js';
import { tenantDir } from '../tools/gen/write-files.js';
import { sampleRss } from '../tools/lib/spawn-server.js';
import { mib, round } from './lib/numbers.js';
import { tableLines } from './lib/orders-file.js';
import { DATABASE_URL_OPTION, inSchema } from './lib/postgres.js';
import { machine, writeResult } from './lib/results.js';
import { PERF_ADMIN, startPerfServer } from './lib/server.js';
import { createTenant, loadProducts, postNdjson } from './lib/tenant.js';

const { values } = parseArgs({
  options: {
    dataset: { type: 'string', default: './datasets/small' },
    orders: { type: 'string', default: '1000000' },
    out: { type: 'string', default: 'upload' },
    storage: { type: 'string', default: 'sqlite' },
    'database-url': DATABASE_URL_OPTION,
  },
});
if (values.storage !== 'sqlite' && values.storage !== 'postgres')
  throw new Error('--storage is sqlite or postgres');
const total = Number(values.orders);
const dir = tenantDir(values.dataset!, 1);
const work = mkdtempSync(join(tmpdir(), 'orderflow-upload-perf-'));

const plainFile = join(work, 'orders.ndjson');
const gzipFile = join(work, 'orders.ndjson.gz');
{
  const lines: string[] = [];
  for await (const line of tableLines(dir, 'orders', total)) lines.push(line);
  const body = Buffer.from(`${lines.join('\n')}\n`);
  writeFileSync(plainFile, body);
  writeFileSync(gzipFile, gzipSync(body, { level: 6 }));
}

interface Summary {
  rows_inserted: number;
  rows_failed: number;
  rows_duplicate: number;
  /** where the last run of tools/upload started (0 unless it resumed) */
  resumed_from: number;
}

/** The server's durable offset of the upload tools/upload is sending `file` to (null before it exists). */
async function durableOffset(file: string, key: string): Promise<number | null> {
  const state = `${file}.tus.json`;
  if (!existsSync(state)) return null;
  const { uploadUrl } = JSON.parse(readFileSync(state, 'utf8')) as { uploadUrl: string };
  const res = await fetch(uploadUrl, {
    method: 'HEAD',
    headers: { 'tus-resumable': '1.0.0', authorization: `Bearer ${key}` },
  });
  return res.ok ? Number(res.headers.get('upload-offset')) : null;
}

/**
 * Runs tools/upload to the end; with `killAtBytes`, SIGKILLs it once the server holds that many bytes
 * durably (the transfer half done, not the processing) and runs it again to resume.
 */
async function upload(file: string, url: string, key: string, killAtBytes?: number) {
  const run = (kill?: number) =>
    new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      const child = spawn(
        process.execPath,
        [join(PROJECT_ROOT, 'dist/tools/upload.js'), file, '--url', url, '--key', key],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => {
        out += d;
      });
      // the tool's last words, for a failure (its progress bar is most of what it writes there)
      child.stderr.on('data', (d) => {
        err = (err + d).slice(-2000);
      });
      let exited = false;
      const watch = async () => {
        while (kill !== undefined && !exited) {
          if (((await durableOffset(file, key)) ?? 0) >= kill) child.kill('SIGKILL');
          await new Promise((r) => setTimeout(r, 20));
        }
      };
      void watch();
      child.once('exit', (code) => {
        exited = true;
        resolve({ code, out, err });
      });
    });
  const t0 = performance.now();
  if (killAtBytes !== undefined) await run(killAtBytes);
  const last = await run();
  const seconds = (performance.now() - t0) / 1000;
  if (last.code !== 0)
    throw new Error(`upload exited ${last.code}: ${last.out.slice(-300)} ${last.err.slice(-600)}`);
  const summary = JSON.parse(last.out.trim().split('\n').pop()!) as Summary;
  return { seconds, summary };
}

/** The server on the chosen storage, for `measure`; on PostgreSQL in a scratch schema dropped after. */
async function onStorage<T>(measure: (server: Awaited<ReturnType<typeof startPerfServer>>) => Promise<T>) {
  const run = async (flags: string[]) => {
    const server = await startPerfServer(join(work, 'data'), flags);
    try {
      return await measure(server);
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  };
  return values.storage === 'postgres'
    ? inSchema(values['database-url']!, (_c, _p, url) =>
        run(['--storage', 'postgres', '--database-url', url]),
      )
    : run([]);
}

try {
  await onStorage(async (server) => {
    const rows: Record<string, unknown>[] = [];
    let tenantNo = 0;
    const freshTenant = async () => {
      const t = await createTenant(server.url, PERF_ADMIN, `upload-${tenantNo++}`);
      await loadProducts(server.url, t.auth, dir);
      return { ...t, key: t.auth.authorization.slice('Bearer '.length) };
    };
    for (const [name, file, headers] of [
      ['plain', plainFile, { 'content-type': 'application/x-ndjson' }],
      ['gzip', gzipFile, { 'content-type': 'application/x-ndjson', 'content-encoding': 'gzip' }],
    ] as const) {
      const a = await freshTenant();
      execFileSync('sync');
      const sampler = sampleRss(server.child.pid!, 100);
      const r0 = performance.now();
      const single = await postNdjson(server.url, a.auth, '/api/v1/ingest/orders/', file, { ...headers });
      const requestSeconds = (performance.now() - r0) / 1000;
      const requestPeak = sampler.stop().peak;
      const b = await freshTenant();
      execFileSync('sync');
      const uploadSampler = sampleRss(server.child.pid!, 100);
      const up = await upload(file, server.url, b.key);
      const uploadPeak = uploadSampler.stop().peak;
      if (single.rows_inserted !== total || up.summary.rows_inserted !== total)
        throw new Error(`${name}: rows ${single.rows_inserted} / ${up.summary.rows_inserted}, want ${total}`);
      // killed once half the file is durable on the server, then resumed
      const c = await freshTenant();
      const resumed = await upload(file, server.url, c.key, statSync(file).size / 2);
      const exactlyOnce = resumed.summary.rows_inserted === total && resumed.summary.rows_duplicate === 0;
      rows.push({
        body: name,
        request_orders_per_sec: Math.round(total / requestSeconds),
        upload_orders_per_sec: Math.round(total / up.seconds),
        upload_over_request: round(requestSeconds / up.seconds, 2),
        killed_and_resumed_orders_per_sec: Math.round(total / resumed.seconds),
        resumed_at_byte: resumed.summary.resumed_from,
        file_bytes: statSync(file).size,
        killed_and_resumed_rows: resumed.summary,
        every_row_exactly_once: exactlyOnce,
        peak_rss_mb: { request: mib(requestPeak), upload: mib(uploadPeak) },
      });
      process.stdout.write(`${name}: ${JSON.stringify(rows.at(-1))}\n`);
    }
    const result = {
      benchmark: 'upload',
      at: new Date().toISOString(),
      env: machine(),
      storage: values.storage,
      orders: total,
      rows,
    };
    process.stdout.write(
      '| body | single request orders/s | tus upload orders/s | upload / request (goal >= 0.9) | killed half way, resumed: orders/s | resumed at byte / of | every row once | peak RSS MB request / upload |\n|---|---|---|---|---|---|---|---|\n',
    );
    for (const r of rows as {
      body: string;
      request_orders_per_sec: number;
      upload_orders_per_sec: number;
      upload_over_request: number;
      killed_and_resumed_orders_per_sec: number;
      resumed_at_byte: number;
      file_bytes: number;
      every_row_exactly_once: boolean;
      peak_rss_mb: { request: number; upload: number };
    }[])
      process.stdout.write(
        `| ${r.body} | ${r.request_orders_per_sec} | ${r.upload_orders_per_sec} | ${r.upload_over_request} | ${r.killed_and_resumed_orders_per_sec} | ${r.resumed_at_byte} / ${r.file_bytes} | ${r.every_row_exactly_once} | ${r.peak_rss_mb.request} / ${r.peak_rss_mb.upload} |\n`,
      );
    process.stdout.write(`${JSON.stringify(result)}\n`);
    writeResult(values.out!, result);
  });
} finally {
  rmSync(work, { recursive: true, force: true });
}
