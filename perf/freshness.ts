/**
 * How fresh the sales metrics are, and what a read pays for it (issue 19): for each refresh policy
 * (--rollup-refresh background, the default, and on-read, the old behaviour), in one run:
 *   1. load: the first N orders of a dataset in R requests into a fresh tenant (ingest rate reported, so the
 *      background refresh's cost to ingest shows);
 *   2. the first reads right after the last request is answered: a year by day, approx then exact, with
 *      their latency and meta.freshness (hours rebuilt by the read, hours left out);
 *   3. catch-up: how long until no hour is stale (rollup_dirty_hours 0), background only;
 *   4. steady ingest: --trickle orders every 200 ms (random days, as the dataset has them) for --seconds,
 *      while a dashboard reads the year by day (approx) once a second: read latency p50 / p95 / max, and
 *      the most hours an answer left out; from the catch-up on (`--steady-start caught-up`), or right after
 *      the first reads (`loaded`: a shop that goes on selling after its backfill, no quiet time);
 *   5. the server's peak RSS during the load, and after it (catch-up and steady ingest);
 *   6. the oldest order an answer left out (meta.freshness.oldest_unfolded_ms: under 2 s, the goal).
 *   node dist/perf/freshness.js --dataset ./datasets/small [--orders 300000] [--requests 3]
 *     [--trickle 50] [--seconds 30] [--steady-start caught-up|loaded] [--out freshness] [-- server flags, e.g. --rollup-refresh-max-lag-ms 1000]
 * Prints a table and one JSON line; writes perf/results/<out>.json.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { tenantDir } from '../tools/gen/write-files.js';
import { sampleRss } from '../tools/lib/spawn-server.js';
import { send } from './lib/http.js';
import { mib, percentile, round } from './lib/numbers.js';
import { tableLines } from './lib/orders-file.js';
import { machine, writeResult } from './lib/results.js';
import { PERF_ADMIN, startPerfServer } from './lib/server.js';
import { createTenant, loadProducts, postNdjson } from './lib/tenant.js';

const { values, positionals } = parseArgs({
  options: {
    dataset: { type: 'string', default: './datasets/small' },
    orders: { type: 'string', default: '300000' },
    requests: { type: 'string', default: '3' },
    trickle: { type: 'string', default: '50' },
    seconds: { type: 'string', default: '30' },
    'steady-start': { type: 'string', default: 'caught-up' },
    out: { type: 'string', default: 'freshness' },
  },
  allowPositionals: true,
});
const total = Number(values.orders);
const requests = Number(values.requests);
const trickle = Number(values.trickle);
const steadySeconds = Number(values.seconds);
/** caught-up: the trickle starts once the load is rebuilt (background) or read once (on-read); loaded: at once */
const steadyStart = values['steady-start'] as 'caught-up' | 'loaded';
const dir = tenantDir(values.dataset!, 1);
const work = mkdtempSync(join(tmpdir(), 'orderflow-freshness-'));
const YEAR = { start_date: '2025-01-01', end_date: '2026-01-01' };

/** The load's request bodies, then the trickle's orders (further rows of the same file). */
const files: string[] = [];
const trickleLines: string[] = [];
{
  const perRequest = Math.ceil(total / requests);
  const trickleTotal = Math.ceil((steadySeconds * 1000) / 200) * trickle;
  let lines: string[] = [];
  for await (const line of tableLines(dir, 'orders', total + trickleTotal)) {
    if (files.length === requests) {
      trickleLines.push(line);
      continue;
    }
    lines.push(line);
    if (lines.length === perRequest || files.length * perRequest + lines.length === total) {
      const file = join(work, `request-${files.length}.ndjson`);
      writeFileSync(file, `${lines.join('\n')}\n`);
      files.push(file);
      lines = [];
    }
  }
}

interface Read {
  ms: number;
  rebuilt_hours: number;
  stale_hours_in_range: number;
  complete: boolean;
  /** how long ago the oldest order the answer left out was acknowledged (0: none left out) */
  oldest_unfolded_ms: number;
}

async function read(url: string, tenantId: number, auth: Record<string, string>, precision: string) {
  const q = new URLSearchParams({ group_by: 'day', precision, ...YEAR });
  const t0 = performance.now();
  const res = await send(`${url}/api/v1/tenants/${tenantId}/metrics/sales?${q}`, { headers: auth });
  const ms = Math.round(performance.now() - t0);
  if (res.status !== 200) throw new Error(`metrics: HTTP ${res.status} ${res.text.slice(0, 200)}`);
  const f = (
    JSON.parse(res.text) as {
      meta: { freshness: Omit<Read, 'ms' | 'oldest_unfolded_ms'> & { oldest_unfolded_ms?: number | null } };
    }
  ).meta.freshness;
  return {
    ms,
    rebuilt_hours: f.rebuilt_hours,
    stale_hours_in_range: f.stale_hours_in_range,
    complete: f.complete,
    oldest_unfolded_ms: f.oldest_unfolded_ms ?? 0,
  };
}

async function dirtyHours(url: string, tenantId: number): Promise<number | null> {
  const { text } = await send(`${url}/metrics`);
  const m = new RegExp(`rollup_dirty_hours\\{tenant="${tenantId}"\\} (\\d+)`).exec(text);
  return m ? Number(m[1]) : null;
}

async function runPolicy(policy: 'background' | 'on-read') {
  const server = await startPerfServer(join(work, `data-${policy}`), [
    '--rollup-refresh',
    policy,
    ...positionals,
  ]);
  try {
    const { tenantId, auth } = await createTenant(server.url, PERF_ADMIN, policy);
    await loadProducts(server.url, auth, dir);
    const l0 = performance.now();
    const duringLoad = sampleRss(server.child.pid!, 50);
    for (const file of files) await postNdjson(server.url, auth, '/api/v1/ingest/orders/', file);
    const loadSeconds = (performance.now() - l0) / 1000;
    const loadPeak = duringLoad.stop().peak;
    const afterLoad = sampleRss(server.child.pid!, 50);
    const loadedAt = performance.now();
    const firstApprox = await read(server.url, tenantId, auth, 'approx');
    const firstExact = await read(server.url, tenantId, auth, 'exact');
    let caughtUpS: number | null = null;
    if (steadyStart === 'loaded') {
      // no quiet time: the trickle starts now
    } else if (policy === 'background') {
      while ((await dirtyHours(server.url, tenantId)) !== 0) await new Promise((r) => setTimeout(r, 100));
      caughtUpS = Math.round((performance.now() - loadedAt) / 100) / 10;
    } else await read(server.url, tenantId, auth, 'exact'); // fresh before the steady phase, as above
    // steady ingest with a dashboard reading once a second
    const reads: Read[] = [];
    let stop = false;
    const writer = (async () => {
      for (let i = 0; i < trickleLines.length && !stop; i += trickle) {
        const body = `${trickleLines.slice(i, i + trickle).join('\n')}\n`;
        await send(`${server.url}/api/v1/ingest/orders/`, {
          method: 'POST',
          headers: { ...auth, 'content-type': 'application/x-ndjson' },
          body,
        });
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    const until = performance.now() + steadySeconds * 1000;
    while (performance.now() < until) {
      reads.push(await read(server.url, tenantId, auth, 'approx'));
      await new Promise((r) => setTimeout(r, 1000));
    }
    stop = true;
    await writer;
    const afterPeak = afterLoad.stop().peak;
    const ms = reads.map((r) => r.ms).sort((a, b) => a - b);
    return {
      policy,
      load_seconds: round(loadSeconds),
      load_orders_per_sec: Math.round(total / loadSeconds),
      first_approx: firstApprox,
      first_exact: firstExact,
      caught_up_after_load_s: caughtUpS,
      peak_rss_mb: { load: mib(loadPeak), after_load: mib(afterPeak) },
      steady: {
        reads: reads.length,
        p50_ms: percentile(ms, 50),
        p95_ms: percentile(ms, 95),
        max_ms: ms[ms.length - 1] ?? 0,
        // an answer that is complete left nothing out, though hours may still be to rebuild (it read the
        // order journal instead)
        most_hours_left_out: Math.max(0, ...reads.map((r) => (r.complete ? 0 : r.stale_hours_in_range))),
        complete_answers: reads.filter((r) => r.complete).length,
        // the oldest order any answer left out (the goal: none acknowledged 2 s or more before the read)
        most_unfolded_age_ms: Math.max(0, ...reads.map((r) => r.oldest_unfolded_ms)),
        // hours of the year still to rebuild at the first and the last steady read: does the rebuild catch up
        hours_to_rebuild_first_last: [
          reads[0]?.stale_hours_in_range ?? null,
          reads.at(-1)?.stale_hours_in_range ?? null,
        ],
        most_hours_rebuilt_by_a_read: Math.max(0, ...reads.map((r) => r.rebuilt_hours)),
      },
    };
  } finally {
    server.child.kill('SIGTERM');
    await server.exited;
  }
}

try {
  const policies = [await runPolicy('background'), await runPolicy('on-read')];
  const result = {
    benchmark: 'freshness',
    at: new Date().toISOString(),
    env: machine({ server_flags: positionals }),
    orders: total,
    requests,
    trickle_orders_per_200ms: trickle,
    steady_seconds: steadySeconds,
    steady_start: steadyStart,
    policies,
  };
  process.stdout.write(
    `| ${total} orders in ${requests} requests, year by day | background | on-read |\n|---|---|---|\n`,
  );
  const row = (label: string, f: (p: (typeof policies)[number]) => unknown) =>
    process.stdout.write(`| ${label} | ${policies.map((p) => String(f(p))).join(' | ')} |\n`);
  row('load orders/s', (p) => p.load_orders_per_sec);
  row(
    'first approx read ms (hours rebuilt / still to rebuild; complete)',
    (p) =>
      `${p.first_approx.ms} (${p.first_approx.rebuilt_hours} / ${p.first_approx.stale_hours_in_range}; ${p.first_approx.complete})`,
  );
  row('first exact read ms (hours rebuilt)', (p) => `${p.first_exact.ms} (${p.first_exact.rebuilt_hours})`);
  row('caught up after the load, s', (p) => p.caught_up_after_load_s ?? '-');
  row('peak server RSS MB: load / after it', (p) => `${p.peak_rss_mb.load} / ${p.peak_rss_mb.after_load}`);
  row(
    'steady ingest: approx read p50 / p95 / max ms',
    (p) => `${p.steady.p50_ms} / ${p.steady.p95_ms} / ${p.steady.max_ms}`,
  );
  row('steady ingest: most hours an answer left out', (p) => p.steady.most_hours_left_out);
  row('steady ingest: complete answers / reads', (p) => `${p.steady.complete_answers} / ${p.steady.reads}`);
  row('steady ingest: oldest order an answer left out, ms', (p) => p.steady.most_unfolded_age_ms);
  row('steady ingest: hours still to rebuild, first / last read', (p) =>
    p.steady.hours_to_rebuild_first_last.join(' / '),
  );
  row('steady ingest: most hours one read rebuilt', (p) => p.steady.most_hours_rebuilt_by_a_read);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  writeResult(values.out!, result);
} finally {
  rmSync(work, { recursive: true, force: true });
}
