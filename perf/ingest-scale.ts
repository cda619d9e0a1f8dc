/**
 * Ingest as a shard grows, against the outside limit in the same run: the first N orders of a dataset
 * in R requests into one fresh tenant over HTTP, and the same rows inserted by the plain better-sqlite3
 * baseline (perf/lib/plain-insert.ts: minimal indexes, 10,000 orders per transaction, 64 MiB cache) into a
 * fresh file. The two alternate request by request (plain step k, then HTTP step k), so both see the
 * machine in the same state; this machine's speed drifts by 20% within minutes.
 *   node dist/perf/ingest-scale.js --dataset ./datasets/small [--orders 1000000] [--requests 10]
 *     [--out ingest-scale] [-- extra server flags]
 * Reports each step's rates, the averages (rows over total time), how well each holds (last step's rate
 * over the first's), the server's peak RSS and how busy its writer was. Writes perf/results/<out>.json.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { OrderRow } from '../src/storage/order-writer.js';
import { tenantDir } from '../tools/gen/write-files.js';
import { metricValue } from '../tools/lib/prometheus-text.js';
import { countersOf, sampleRss } from '../tools/lib/spawn-server.js';
import { mib, round } from './lib/numbers.js';
import { tableLines } from './lib/orders-file.js';
import { PlainInsert } from './lib/plain-insert.js';
import { machine, writeResult } from './lib/results.js';
import { PERF_ADMIN, startPerfServer } from './lib/server.js';
import { createTenant, loadProducts, postNdjson } from './lib/tenant.js';

const { values, positionals } = parseArgs({
  options: {
    dataset: { type: 'string', default: './datasets/small' },
    orders: { type: 'string', default: '1000000' },
    requests: { type: 'string', default: '10' },
    out: { type: 'string', default: 'ingest-scale' },
  },
  allowPositionals: true,
});
const total = Number(values.orders);
const requests = Number(values.requests);
const perRequest = Math.ceil(total / requests);
const dir = tenantDir(values.dataset!, 1);
const work = mkdtempSync(join(tmpdir(), 'orderflow-ingest-scale-'));

/** The requests' bodies, written before anything is timed. */
const files: string[] = [];
{
  let lines: string[] = [];
  const flush = () => {
    const file = join(work, `request-${files.length}.ndjson`);
    writeFileSync(file, `${lines.join('\n')}\n`);
    files.push(file);
    lines = [];
  };
  for await (const line of tableLines(dir, 'orders', total)) {
    lines.push(line);
    if (lines.length === perRequest) flush();
  }
  if (lines.length) flush();
}

interface Step {
  step: number;
  rows: number;
  plain_orders_per_sec: number;
  http_orders_per_sec: number;
  ratio: number;
  writer_busy: number;
  peak_rss_mb: number;
  plain_seconds: number;
  http_seconds: number;
  /** the server's CPU seconds (every thread) during the request, and its minor page faults */
  server_cpu_seconds: number | null;
  server_minor_faults: number | null;
  /** the plain insert's minor page faults (this process, around its insert) */
  plain_minor_faults: number;
}

/** Seconds the server has spent inside order insert transactions so far (db_query_duration_seconds). */
function insertSeconds(url: string): Promise<number> {
  return metricValue(url, 'db_query_duration_seconds_sum', { query: 'insert_orders_batch' });
}

const server = await startPerfServer(join(work, 'data'), positionals);
const plain = new PlainInsert(join(work, 'plain.db'));
try {
  const { auth } = await createTenant(server.url, PERF_ADMIN, 'scale');
  await loadProducts(server.url, auth, dir);
  const steps: Step[] = [];
  for (const file of files) {
    // the plain baseline's step: the same rows, parsed before its clock runs
    const rows: OrderRow[] = readFileSync(file, 'utf8')
      .trimEnd()
      .split('\n')
      .map((l) => {
        const o = JSON.parse(l) as Omit<OrderRow, 'created_at'> & { created_at: string };
        return { ...o, created_at: Date.parse(o.created_at) };
      });
    execFileSync('sync'); // dirty pages of the previous step are written back now, not during the next
    const plainFaults0 = process.resourceUsage().minorPageFault;
    const p0 = performance.now();
    plain.insert(rows, 10_000);
    const plainSeconds = (performance.now() - p0) / 1000;
    const plainFaults = process.resourceUsage().minorPageFault - plainFaults0;
    execFileSync('sync');
    const sampler = sampleRss(server.child.pid!, 100);
    const busy0 = await insertSeconds(server.url);
    const c0 = countersOf(server.child.pid!);
    const h0 = performance.now();
    const summary = await postNdjson(server.url, auth, '/api/v1/ingest/orders/', file);
    const httpSeconds = (performance.now() - h0) / 1000;
    const c1 = countersOf(server.child.pid!);
    const busy = (await insertSeconds(server.url)) - busy0;
    const rss = sampler.stop();
    if (summary.rows_failed || summary.rows_inserted !== rows.length)
      throw new Error(`step ${steps.length + 1}: ${JSON.stringify(summary)}`);
    const step: Step = {
      step: steps.length + 1,
      rows: rows.length,
      plain_orders_per_sec: Math.round(rows.length / plainSeconds),
      http_orders_per_sec: Math.round(rows.length / httpSeconds),
      ratio: round(plainSeconds / httpSeconds, 2),
      writer_busy: round(busy / httpSeconds, 2),
      peak_rss_mb: mib(rss.peak),
      plain_seconds: round(plainSeconds, 3),
      http_seconds: round(httpSeconds, 3),
      server_cpu_seconds: c0 && c1 ? round(c1.cpuSeconds - c0.cpuSeconds, 2) : null,
      server_minor_faults: c0 && c1 ? c1.minorFaults - c0.minorFaults : null,
      plain_minor_faults: plainFaults,
    };
    steps.push(step);
    process.stdout.write(
      `step ${step.step}: plain ${step.plain_orders_per_sec}/s, HTTP ${step.http_orders_per_sec}/s (${step.ratio}), writer busy ${step.writer_busy}, peak RSS ${step.peak_rss_mb} MB, server CPU ${step.server_cpu_seconds} s, minor faults server ${step.server_minor_faults} / plain ${step.plain_minor_faults}\n`,
    );
  }
  const sum = (f: (s: Step) => number) => steps.reduce((n, s) => n + f(s), 0);
  const rows = sum((s) => s.rows);
  const plainRate = Math.round(rows / sum((s) => s.plain_seconds));
  const httpRate = Math.round(rows / sum((s) => s.http_seconds));
  const result = {
    benchmark: 'ingest-scale',
    at: new Date().toISOString(),
    env: machine({ server_flags: positionals }),
    orders: rows,
    requests: steps.length,
    plain_orders_per_sec: plainRate,
    http_orders_per_sec: httpRate,
    ratio: round(httpRate / plainRate, 2),
    plain_holds: round(steps.at(-1)!.plain_orders_per_sec / steps[0]!.plain_orders_per_sec, 2),
    http_holds: round(steps.at(-1)!.http_orders_per_sec / steps[0]!.http_orders_per_sec, 2),
    peak_rss_mb: Math.max(...steps.map((s) => s.peak_rss_mb)),
    steps,
  };
  writeResult(values.out!, result);
  process.stdout.write(
    [
      `| ${rows} orders in ${steps.length} requests | orders/s | first / last request | holds |`,
      '|---|---|---|---|',
      `| plain better-sqlite3 (10k per transaction, 64 MiB cache) | ${plainRate} | ${steps[0]!.plain_orders_per_sec} / ${steps.at(-1)!.plain_orders_per_sec} | ${result.plain_holds} |`,
      `| this service over HTTP | ${httpRate} | ${steps[0]!.http_orders_per_sec} / ${steps.at(-1)!.http_orders_per_sec} | ${result.http_holds} |`,
      `| HTTP / plain: ${result.ratio}; peak server RSS ${result.peak_rss_mb} MB | | | |`,
      '',
    ].join('\n'),
  );
  const { steps: _s, ...summary } = result;
  process.stdout.write(`${JSON.stringify(summary)}\n`);
} catch (error) {
  const problems = server.logs.filter((l) => l.level !== 'info' && l.level !== 30).slice(-10);
  process.stderr.write(`${JSON.stringify(problems, null, 1)}\n${server.stderr().slice(-3000)}\n`);
  throw error;
} finally {
  plain.close();
  server.child.kill('SIGTERM');
  await server.exited;
  rmSync(work, { recursive: true, force: true });
}
