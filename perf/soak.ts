/**
 * Many tenants at once (issue 21): 20 tenants each ingesting its own orders in requests of --batch orders,
 * while 10 search streams read whole pages and metrics loops ask for sales by day, for --seconds. Reports
 * ingest throughput, how many requests got 429 (and retried after Retry-After), /healthz latency, the
 * server's peak RSS and what it is made of as the run goes, and its RSS before the load and every 10 s for a
 * minute after it ended (does it give memory back).
 *   node dist/perf/soak.js --dataset ./datasets/small [--tenants 20] [--seconds 180] [--out soak] [-- server flags]
 * Prints a table and one JSON line; writes perf/results/<out>.json.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { tenantDir } from '../tools/gen/write-files.js';
import { metricSum, metricValue } from '../tools/lib/prometheus-text.js';
import { rssOf, sampleRss } from '../tools/lib/spawn-server.js';
import { send } from './lib/http.js';
import { residentByKind } from './lib/memory-breakdown.js';
import { mib, percentile, round } from './lib/numbers.js';
import { tableLines } from './lib/orders-file.js';
import { machine, writeResult } from './lib/results.js';
import { PERF_ADMIN, startPerfServer } from './lib/server.js';
import { createTenant, loadProducts } from './lib/tenant.js';

const { values, positionals } = parseArgs({
  options: {
    dataset: { type: 'string', default: './datasets/small' },
    tenants: { type: 'string', default: '20' },
    seconds: { type: 'string', default: '180' },
    batch: { type: 'string', default: '5000' },
    streams: { type: 'string', default: '10' },
    out: { type: 'string', default: 'soak' },
  },
  allowPositionals: true,
});
const tenants = Number(values.tenants);
const seconds = Number(values.seconds);
const batch = Number(values.batch);
const dir = tenantDir(values.dataset!, 1);
const work = mkdtempSync(join(tmpdir(), 'orderflow-soak-'));

// every tenant gets its own slice of the dataset's orders, as request bodies written before the clock runs;
// a tenant through its slice sends it again under new order ids, so every tenant ingests until the end
const perTenant = Math.min(50_000, Math.ceil((seconds * 2000) / tenants));
const files: string[][] = Array.from({ length: tenants }, () => []);
{
  let lines: string[] = [];
  let n = 0;
  for await (const line of tableLines(dir, 'orders', perTenant * tenants)) {
    lines.push(line);
    if (lines.length === batch) {
      const t = Math.floor(n / perTenant) % tenants;
      const file = join(work, `t${t}-${files[t]!.length}.ndjson`);
      writeFileSync(file, `${lines.join('\n')}\n`);
      files[t]!.push(file);
      lines = [];
    }
    n++;
  }
}

const server = await startPerfServer(join(work, 'data'), positionals);
/** V8 heap (reserved) per thread from /metrics: the main thread's now, each worker's after its latest task. */
async function heapTotals(): Promise<Map<string, number>> {
  return heapTotalsIn((await send(`${server.url}/metrics`)).text);
}
function heapTotalsIn(text: string): Map<string, number> {
  const heaps = new Map<string, number>();
  for (const m of text.matchAll(
    /^(worker_heap_bytes\{thread="(\d+)",kind="total"\}|nodejs_heap_size_total_bytes) (\d+)/gm,
  ))
    heaps.set(m[2] ?? 'main', Number(m[3]));
  return heaps;
}
interface MemorySample {
  s: number;
  rss: number;
  parts: Record<string, number>;
}
/** A memory sample in MiB (its time in whole seconds). */
const inMib = (sample: MemorySample) => ({
  s: Math.round(sample.s),
  rss: mib(sample.rss),
  ...Object.fromEntries(Object.entries(sample.parts).map(([k, v]) => [k, mib(v)])),
});
const parts = (sample: Record<string, number>) =>
  Object.entries(sample)
    .filter(([k]) => k !== 's')
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
const heapMib = (heaps: Map<string, number>) =>
  Object.fromEntries([...heaps].map(([thread, bytes]) => [thread, mib(bytes)]));
try {
  const idleRss = rssOf(server.child.pid!) ?? 0;
  const idleHeaps = await heapTotals();
  const ts: Awaited<ReturnType<typeof createTenant>>[] = [];
  for (let i = 0; i < tenants; i++) {
    const t = await createTenant(server.url, PERF_ADMIN, `soak-${i}`);
    await loadProducts(server.url, t.auth, dir);
    ts.push(t);
  }
  const sampler = sampleRss(server.child.pid!, 200);
  const t0 = performance.now();
  const until = Date.now() + seconds * 1000;
  const counts = {
    orders: 0,
    ingest_requests: 0,
    refused_429: 0,
    failed: 0,
    streams: 0,
    stream_rows: 0,
    metrics: 0,
  };
  const health: number[] = [];
  const retryAfter = async (status: number, headers: string) => {
    counts.refused_429++;
    const s = Number(/retry-after: (\d+)/i.exec(headers)?.[1] ?? 1);
    await new Promise((r) => setTimeout(r, Math.min(5, s) * 1000));
    return status;
  };
  const ingestLoop = async (i: number) => {
    for (let pass = 0; ; pass++)
      for (const file of files[i]!) {
        if (Date.now() > until) return;
        await ingestFile(i, file, pass);
      }
  };
  /** One request body: the file as written on the first pass, its order ids renamed on later ones. */
  const ingestFile = async (i: number, file: string, pass: number) => {
    const body =
      pass === 0
        ? { file }
        : { body: readFileSync(file, 'utf8').replaceAll('{"order_id":"', `{"order_id":"R${pass}-`) };
    for (;;) {
      const res = await send(`${server.url}/api/v1/ingest/orders/`, {
        method: 'POST',
        headers: { ...ts[i]!.auth, 'content-type': 'application/x-ndjson' },
        ...body,
      });
      if (res.status === 429) {
        await retryAfter(res.status, res.text);
        continue;
      }
      if (res.status === 200) {
        counts.orders += (JSON.parse(res.text) as { rows_inserted: number }).rows_inserted;
        counts.ingest_requests++;
      } else counts.failed++;
      return;
    }
  };
  const streamLoop = async (k: number) => {
    while (Date.now() < until) {
      const t = ts[k % tenants]!;
      const res = await send(`${server.url}/api/v1/tenants/${t.tenantId}/orders/search?limit=20000`, {
        headers: t.auth,
      });
      if (res.status === 429) await retryAfter(res.status, res.text);
      else if (res.status === 200) {
        counts.streams++;
        counts.stream_rows += res.text.split('\n').length - 2;
      } else counts.failed++;
    }
  };
  const metricsLoop = async (k: number) => {
    while (Date.now() < until) {
      const t = ts[(k * 7) % tenants]!;
      const res = await send(
        `${server.url}/api/v1/tenants/${t.tenantId}/metrics/sales?group_by=day&start_date=2025-01-01&end_date=2026-01-01`,
        { headers: t.auth },
      );
      if (res.status === 429) await retryAfter(res.status, res.text);
      else if (res.status === 200) counts.metrics++;
      else counts.failed++;
      await new Promise((r) => setTimeout(r, 500));
    }
  };
  /** The highest V8 heap (reserved) seen per thread: where the memory is at the peak. */
  const heapPeaks = new Map<string, number>();
  /** Every memory sample (one a second): RSS, its mappings by kind, malloc's own figures, in bytes. */
  const memorySamples: MemorySample[] = [];
  const peakOf = () =>
    memorySamples.reduce((a, b) => (b.rss > a.rss ? b : a), { s: 0, rss: 0, parts: {} } as MemorySample);
  const sampleMemory = async () => {
    const rss = rssOf(server.child.pid!) ?? 0;
    const kinds = residentByKind(server.child.pid!);
    const { text } = await send(`${server.url}/metrics`);
    const heaps = heapTotalsIn(text);
    for (const [thread, bytes] of heaps) heapPeaks.set(thread, Math.max(heapPeaks.get(thread) ?? 0, bytes));
    if (!kinds) return;
    const malloc = (kind: string) => metricSum(text, 'process_malloc_bytes', { kind });
    memorySamples.push({
      s: (performance.now() - t0) / 1000,
      rss,
      parts: {
        file_mapped: kinds.file,
        malloc_main_arena: kinds.brk,
        other_anonymous: kinds.anon,
        v8_heaps_reserved: [...heaps.values()].reduce((a, b) => a + b, 0),
        malloc_in_use: malloc('in_use'),
        malloc_free_in_arenas: malloc('free'),
        malloc_mapped_blocks: malloc('mapped'),
        ingest_pending: metricSum(text, 'ingest_pending_bytes'),
      },
    });
  };
  const probe = async () => {
    let n = 0;
    while (Date.now() < until) {
      const h0 = performance.now();
      await send(`${server.url}/healthz`);
      health.push(performance.now() - h0);
      if (n++ % 5 === 0) await sampleMemory();
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  await Promise.all([
    ...ts.map((_, i) => ingestLoop(i)),
    ...Array.from({ length: Number(values.streams) }, (_, k) => streamLoop(k)),
    ...Array.from({ length: 4 }, (_, k) => metricsLoop(k)),
    probe(),
  ]);
  const elapsed = (performance.now() - t0) / 1000;
  const rss = sampler.stop();
  /** RSS every 10 s for a minute after the load: how fast memory comes back */
  const after: number[] = [];
  for (let i = 0; i < 6; i++) {
    await new Promise((r) => setTimeout(r, 10_000));
    after.push(mib(rssOf(server.child.pid!) ?? 0));
  }
  const afterHeaps = await heapTotals();
  const trimmed = await metricValue(server.url, 'process_memory_trimmed_bytes_total');
  if (process.env.SOAK_PMAP)
    writeFileSync(
      process.env.SOAK_PMAP,
      execFileSync('pmap', ['-x', String(server.child.pid)], { encoding: 'utf8' }),
    );
  const result = {
    benchmark: 'soak',
    at: new Date().toISOString(),
    env: machine(),
    tenants,
    seconds: Math.round(elapsed),
    ...counts,
    orders_per_sec: Math.round(counts.orders / elapsed),
    healthz_ms: {
      p50: round(percentile(health, 50)),
      p99: round(percentile(health, 99)),
      max: round(percentile(health, 100)),
      probes: health.length,
    },
    idle_rss_mb: mib(idleRss),
    peak_rss_mb: mib(rss.peak),
    rss_30s_after_mb: after[2]!,
    rss_after_mb_every_10s: after,
    server_flags: positionals,
    heap_total_mb_by_thread: {
      idle: heapMib(idleHeaps),
      peak: heapMib(heapPeaks),
      after: heapMib(afterHeaps),
    },
    memory_trimmed_mb: mib(trimmed),
    /** the probe sample (one a second) with the highest RSS, by kind: the sampler's peak may fall between */
    peak_sample_mb: inMib(peakOf()),
    /** the samples at each fifth of the run: what grows as the shards grow */
    samples_mb_by_fifth: memorySamples.length
      ? [0.2, 0.4, 0.6, 0.8, 1].map((f) =>
          inMib(memorySamples[Math.min(memorySamples.length - 1, Math.floor(f * memorySamples.length))]!),
        )
      : [],
  };
  writeResult(values.out!, { ...result, rss_samples: rss.samples, memory_samples: memorySamples });
  process.stdout.write(
    [
      `| ${tenants} tenants ingesting, ${values.streams} streams, 4 metrics loops, ${result.seconds} s | |`,
      '|---|---|',
      `| orders ingested (all tenants) | ${counts.orders} (${result.orders_per_sec}/s) |`,
      `| requests refused with 429 (then retried) / failed | ${counts.refused_429} / ${counts.failed} |`,
      `| search streams completed (rows) / metrics answers | ${counts.streams} (${counts.stream_rows}) / ${counts.metrics} |`,
      `| /healthz p50 / p99 / max ms | ${result.healthz_ms.p50} / ${result.healthz_ms.p99} / ${result.healthz_ms.max} |`,
      `| server RSS idle / peak / 30 s after | ${result.idle_rss_mb} / ${result.peak_rss_mb} / ${result.rss_30s_after_mb} MB |`,
      `| RSS every 10 s after the load | ${after.join(', ')} MB |`,
      `| returned by malloc_trim after the load | ${result.memory_trimmed_mb} MB |`,
      `| the highest sampled RSS, by kind (MB) | ${parts(result.peak_sample_mb)} |`,
      ...result.samples_mb_by_fifth.map((sample) => `| at ${sample.s} s (MB) | ${parts(sample)} |`),
      '',
    ].join('\n'),
  );
  process.stdout.write(`${JSON.stringify(result)}\n`);
} finally {
  server.child.kill('SIGTERM');
  await server.exited;
  rmSync(work, { recursive: true, force: true });
}
