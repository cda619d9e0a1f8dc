/**
 * Ingest memory in isolation: a fresh server, one tenant, the first 100k orders of the dataset POSTed
 * three times (the first inserts, the next two are all duplicates), plain or gzip, server RSS sampled.
 * Separates what gzip costs from what running second in one server costs (perf/ingest runs both in one),
 * and reports the highest value each heap gauge reached (main thread, and each worker's V8 heap).
 *   node dist/perf/ingest-fresh.js --dataset ./datasets/small --mode plain|gzip
 * Prints one JSON line.
 */
import { createReadStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { tenantDir } from '../tools/gen/write-files.js';
import { sampleRss, spawnServer } from '../tools/lib/spawn-server.js';
import { mib, round } from './lib/numbers.js';
import { machine } from './lib/results.js';
import { createTenant } from './lib/tenant.js';

const { values } = parseArgs({
  options: {
    dataset: { type: 'string', default: './datasets/small' },
    mode: { type: 'string', default: 'plain' },
    orders: { type: 'string', default: '100000' },
  },
});
const gzip = values.mode === 'gzip';
const work = mkdtempSync(join(tmpdir(), 'orderflow-ingest-fresh-'));
const source = join(tenantDir(values.dataset!, 1), 'orders.ndjson');
const lines = (await readFile(source, 'utf8')).split('\n', Number(values.orders));
const body = Buffer.from(`${lines.join('\n')}\n`);
const file = join(work, gzip ? 'orders.ndjson.gz' : 'orders.ndjson');
writeFileSync(file, gzip ? gzipSync(body) : body);

const server = await spawnServer([
  '--data',
  join(work, 'data'),
  '--admin-token',
  'x',
  '--workers',
  '2',
  '--log-level',
  'warn',
]);
try {
  const { auth } = await createTenant(server.url, 'x', 'fresh');
  await (
    await fetch(`${server.url}/api/v1/ingest/products/`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/x-ndjson' },
      body: Readable.toWeb(createReadStream(join(tenantDir(values.dataset!, 1), 'products.ndjson'))) as never,
      duplex: 'half',
    } as RequestInit)
  ).arrayBuffer();
  // the server before the first order: resident memory, and how much of it is mapped from files (code)
  const status = readFileSync(`/proc/${server.child.pid}/status`, 'utf8');
  const statusMb = (field: string) =>
    Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) / 1024;
  const idle = {
    rss_mb: round(statusMb('VmRSS')),
    file_backed_mb: round(statusMb('RssFile')),
  };
  const sampler = sampleRss(server.child.pid!, 100);
  // where the memory is: the highest value of each heap gauge the server exports, polled alongside
  const heaps = new Map<string, number>();
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const text = await (await fetch(`${server.url}/metrics`)).text();
      for (const m of text.matchAll(
        /^(nodejs_heap_size_total_bytes|nodejs_heap_size_used_bytes|nodejs_external_memory_bytes|worker_heap_bytes)(\{[^}]*\})? (\d+)/gm,
      )) {
        const name = `${m[1]}${m[2] ?? ''}`;
        heaps.set(name, Math.max(heaps.get(name) ?? 0, Number(m[3])));
      }
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
  })();
  const inserted: number[] = [];
  for (let i = 0; i < 3; i++) {
    const res = await fetch(`${server.url}/api/v1/ingest/orders/`, {
      method: 'POST',
      headers: {
        ...auth,
        'content-type': 'application/x-ndjson',
        ...(gzip ? { 'content-encoding': 'gzip' } : {}),
      },
      body: Readable.toWeb(createReadStream(file, { highWaterMark: 1 << 20 })) as never,
      duplex: 'half',
    } as RequestInit);
    inserted.push(((await res.json()) as { rows_inserted: number }).rows_inserted);
  }
  const peak = sampler.stop().peak;
  polling = false;
  await poller;
  const heapPeaksMb = Object.fromEntries([...heaps].sort().map(([name, bytes]) => [name, mib(bytes)]));
  process.stdout.write(
    `${JSON.stringify({ benchmark: 'ingest-fresh', env: machine(), mode: values.mode, orders: lines.length, inserted, idle, peak_rss_mb: mib(peak), heap_peaks_mb: heapPeaksMb })}\n`,
  );
} finally {
  server.child.kill('SIGTERM');
  await server.exited;
  rmSync(work, { recursive: true, force: true });
}
