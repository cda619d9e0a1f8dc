/**
 * Ingest memory in isolation: a fresh server, one tenant, the first 100k orders of the dataset POSTed
 * three times (the first inserts, the next two are all duplicates), plain or gzip, server RSS sampled.
 * Separates what gzip costs from what running second in one server costs (perf/ingest runs both in one).
 *   node dist/perf/ingest-fresh.js --dataset ./datasets/small --mode plain|gzip
 * Prints one JSON line.
 */
import { createReadStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { tenantDir } from '../tools/gen/write-files.js';
import { sampleRss, spawnServer } from '../tools/lib/spawn-server.js';
import { machine } from './lib/results.js';

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
  const tenant = (await (
    await fetch(`${server.url}/api/v1/admin/tenants`, {
      method: 'POST',
      headers: { authorization: 'Bearer x', 'content-type': 'application/json' },
      body: '{"name":"fresh"}',
    })
  ).json()) as { api_key: string };
  const auth = { authorization: `Bearer ${tenant.api_key}` };
  await (
    await fetch(`${server.url}/api/v1/ingest/products/`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/x-ndjson' },
      body: Readable.toWeb(createReadStream(join(tenantDir(values.dataset!, 1), 'products.ndjson'))) as never,
      duplex: 'half',
    } as RequestInit)
  ).arrayBuffer();
  const sampler = sampleRss(server.child.pid!, 100);
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
  process.stdout.write(
    `${JSON.stringify({ benchmark: 'ingest-fresh', env: machine(), mode: values.mode, orders: lines.length, inserted, peak_rss_mb: Math.round((peak / 2 ** 20) * 10) / 10 })}\n`,
  );
} finally {
  server.child.kill('SIGTERM');
  await server.exited;
  rmSync(work, { recursive: true, force: true });
}
