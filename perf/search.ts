/**
 * Issue 5's benchmark against a loaded dataset (npm run gen-dataset -- --preset small --insert --data DIR):
 *  1. the outside limit: the same 100k rows read in process by one plain better-sqlite3 statement
 *     (perf/lib/plain-read.ts), nothing done to them;
 *  2. the same page over HTTP, NDJSON and JSON, repeated: rows/s and time to first byte (p50/p95);
 *  3. four concurrent 100k-row streams plus one slow reader, sampling server RSS;
 *  4. paging through the whole tenant with limit 10000.
 *   node dist/perf/search.js --data DIR [--runs 5]
 * Prints a table and one JSON line; writes perf/results/search.json.
 */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { sampleRss, spawnServer } from '../tools/lib/spawn-server.js';
import { percentile, ratio, round } from './lib/numbers.js';
import { plainRead } from './lib/plain-read.js';
import { machine, writeResult } from './lib/results.js';

const { values } = parseArgs({
  options: {
    data: { type: 'string', default: './data' },
    runs: { type: 'string', default: '5' },
    workers: { type: 'string', default: '2' },
    /** results file name under perf/results (without .json), e.g. for another preset */
    out: { type: 'string', default: 'search' },
  },
});
const dataDir = values.data!;
const runs = Number(values.runs);
const keys = JSON.parse(readFileSync(join(dataDir, 'keys.json'), 'utf8')) as {
  tenant_id: number;
  api_key: string;
}[];
const { tenant_id: tenantId, api_key: apiKey } = keys[0]!;
const LIMIT = 100_000;

// 1. the outside limit: the same 100k rows read in process by one plain statement, nothing done to them
const limit = plainRead(dataDir, tenantId, LIMIT, runs);
const limitRate = limit.rows_per_sec;

const server = await spawnServer(['--data', dataDir, '--workers', values.workers!, '--log-level', 'warn']);
const url = (extra = '') => `${server.url}/api/v1/tenants/${tenantId}/orders/search?limit=${LIMIT}${extra}`;
const headers = { authorization: `Bearer ${apiKey}` };

async function stream(
  u: string,
  slowMs = 0,
): Promise<{ ttfbMs: number; seconds: number; bytes: number; lines: number }> {
  const t0 = performance.now();
  const res = await fetch(u, { headers });
  const reader = res.body!.getReader();
  let ttfbMs = -1;
  let bytes = 0;
  let lines = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (ttfbMs < 0) ttfbMs = performance.now() - t0;
    bytes += value.byteLength;
    for (let i = value.indexOf(10); i !== -1; i = value.indexOf(10, i + 1)) lines++;
    if (slowMs) await new Promise((r) => setTimeout(r, slowMs));
  }
  return { ttfbMs, seconds: (performance.now() - t0) / 1000, bytes, lines };
}

try {
  // 2. one stream at a time, each format (a JSON body is one line: its rows are counted by the limit)
  await stream(url());
  const single = [];
  for (let i = 0; i < runs; i++) single.push(await stream(url()));
  const httpRate = Math.max(...single.map((s) => (s.lines - 1) / s.seconds));
  const ttfbs = single.map((s) => s.ttfbMs);
  const json = [];
  for (let i = 0; i < runs; i++) json.push(await stream(url('&format=json')));
  const jsonRate = Math.max(...json.map((s) => LIMIT / s.seconds));

  // 3. four concurrent streams and a slow reader, RSS sampled
  const sampler = sampleRss(server.child.pid!, 50);
  const t3 = performance.now();
  const slow = stream(url(), 20);
  const concurrent = await Promise.all([0, 1, 2, 3].map(() => stream(url())));
  const fastDone = (performance.now() - t3) / 1000;
  const slowResult = await slow;
  const rss = sampler.stop();

  // 4. page through the whole tenant
  const t4 = performance.now();
  let cursor: string | null = null;
  let pages = 0;
  let total = 0;
  do {
    const res = await fetch(
      `${server.url}/api/v1/tenants/${tenantId}/orders/search?limit=10000${cursor ? `&cursor=${cursor}` : ''}`,
      { headers },
    );
    const lines = (await res.text()).trimEnd().split('\n');
    const meta = JSON.parse(lines.at(-1)!)._meta as { next_cursor: string | null; count: number };
    total += meta.count;
    cursor = meta.next_cursor;
    pages++;
  } while (cursor);
  const pagingSeconds = (performance.now() - t4) / 1000;

  const result = {
    benchmark: 'search',
    at: new Date().toISOString(),
    env: machine({ workers: Number(values.workers) }),
    rows_per_stream: LIMIT,
    plain_read: limit,
    http_rows_per_sec: Math.round(httpRate),
    ratio: ratio(httpRate, limitRate),
    http_json_rows_per_sec: Math.round(jsonRate),
    json_ratio: ratio(jsonRate, limitRate),
    ttfb_ms: { p50: round(percentile(ttfbs, 50)), p95: round(percentile(ttfbs, 95)), runs },
    concurrent: {
      streams: 4,
      slow_reader_seconds: round(slowResult.seconds),
      fast_streams_seconds: round(fastDone),
      rows: concurrent.map((c) => c.lines - 1),
      peak_rss_mb: round(rss.peak / 2 ** 20),
    },
    paging: {
      limit: 10_000,
      pages,
      rows: total,
      seconds: round(pagingSeconds),
      rows_per_sec: Math.round(total / pagingSeconds),
    },
    rss_samples: rss.samples,
  };
  writeResult(values.out!, result);
  process.stdout.write(
    [
      '| measure | value |',
      '|---|---|',
      `| plain read in process, one statement (objects / raw) | ${limit.objects_rows_per_sec} / ${limit.raw_rows_per_sec} rows/s |`,
      `| HTTP NDJSON stream of ${LIMIT} rows, all fields (best of ${runs}) | ${result.http_rows_per_sec} rows/s |`,
      `| NDJSON / plain read | ${result.ratio} |`,
      `| HTTP JSON stream, same rows | ${result.http_json_rows_per_sec} rows/s |`,
      `| JSON / plain read | ${result.json_ratio} |`,
      `| time to first byte p50 / p95 | ${result.ttfb_ms.p50} / ${result.ttfb_ms.p95} ms |`,
      `| 4 concurrent streams + 1 slow reader: peak server RSS | ${result.concurrent.peak_rss_mb} MB |`,
      `| paging the tenant, limit 10000 | ${total} rows, ${pages} pages, ${result.paging.seconds} s |`,
      '',
    ].join('\n'),
  );
  const { rss_samples: _, ...summary } = result;
  process.stdout.write(`${JSON.stringify(summary)}\n`);
} finally {
  server.child.kill('SIGTERM');
  await server.exited;
}
