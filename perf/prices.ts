/**
 * Issue 7's benchmark: price-webhook throughput and latency against the same server's /healthz (the
 * HTTP ceiling), with limits high enough that no request fails; then 100 SSE listeners and the delay
 * from a webhook's answer to each listener receiving the anomaly.
 *   node dist/perf/prices.js [--seconds 10] [--clients 32] [--listeners 100]
 * Prints a table and one JSON line; writes perf/results/prices.json.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { spawnServer } from '../tools/lib/spawn-server.js';
import { percentile, ratio, round } from './lib/numbers.js';
import { machine, writeResult } from './lib/results.js';
import { createTenant } from './lib/tenant.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    clients: { type: 'string', default: '32' },
    listeners: { type: 'string', default: '100' },
  },
});
const seconds = Number(values.seconds);
const clients = Number(values.clients);
const listeners = Number(values.listeners);
const PRODUCTS = 1000;

const dataDir = mkdtempSync(join(tmpdir(), 'orderflow-prices-'));
const server = await spawnServer([
  ...['--data', dataDir, '--admin-token', 'a', '--log-level', 'warn', '--workers', '2'],
  ...[
    '--price-rate-product',
    '1000000',
    '--price-burst-product',
    '1000000',
    '--price-rate-tenant',
    '1000000',
    '--price-burst-tenant',
    '1000000',
  ],
]);
try {
  const { tenantId, auth } = await createTenant(server.url, 'a', 'prices');
  const products = Array.from({ length: PRODUCTS }, (_, i) =>
    JSON.stringify({ product_id: i + 1, sku: `S${i}`, name: `P${i}`, category: 'c', price_cents: 10_000 }),
  ).join('\n');
  await fetch(`${server.url}/api/v1/ingest/products/`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/x-ndjson' },
    body: products,
  });

  /** `clients` loops sending requests for `seconds`; latencies and failures counted. */
  async function load(request: (i: number) => Promise<Response>) {
    const latencies: number[] = [];
    let failures = 0;
    let n = 0;
    const until = performance.now() + seconds * 1000;
    await Promise.all(
      Array.from({ length: clients }, async () => {
        while (performance.now() < until) {
          const t0 = performance.now();
          const res = await request(n++);
          await res.arrayBuffer();
          latencies.push(performance.now() - t0);
          if (res.status >= 300) failures++;
        }
      }),
    );
    return {
      requests: latencies.length,
      per_sec: Math.round(latencies.length / seconds),
      p50_ms: round(percentile(latencies, 50)),
      p99_ms: round(percentile(latencies, 99)),
      failures,
    };
  }

  const ceiling = await load(() => fetch(`${server.url}/healthz`));
  const webhook = await load((i) =>
    fetch(`${server.url}/api/v1/tenants/${tenantId}/products/${1 + (i % PRODUCTS)}/price-event`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({
        event_id: `load-${i}`,
        price_cents: 10_000 + (i % 7) * 50,
        observed_at: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(),
      }),
    }),
  );

  // SSE: listeners connect, then anomalies are posted one by one
  const received: number[][] = Array.from({ length: listeners }, () => []);
  const sentAt = new Map<string, number>();
  const controllers: AbortController[] = [];
  const delays: number[] = [];
  const readers = Array.from({ length: listeners }, async (_, l) => {
    const controller = new AbortController();
    controllers.push(controller);
    const res = await fetch(`${server.url}/api/v1/tenants/${tenantId}/price-anomalies/stream`, {
      headers: auth, // no anomaly exists before this phase: no Last-Event-ID needed
      signal: controller.signal,
    });
    const reader = res.body!.getReader();
    let buffer = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += new TextDecoder().decode(value);
        for (let end = buffer.indexOf('\n\n'); end !== -1; end = buffer.indexOf('\n\n')) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = /^data: (.*)$/m.exec(frame)?.[1];
          if (!data) continue;
          const id = (JSON.parse(data) as { event_id: string }).event_id;
          const sent = sentAt.get(id);
          if (sent !== undefined) delays.push(performance.now() - sent);
          received[l]!.push(Number(/^id: (\d+)$/m.exec(frame)?.[1]));
        }
      }
    } catch {
      // aborted at the end
    }
  });
  await new Promise((r) => setTimeout(r, 1000));
  const ANOMALIES = 20;
  for (let i = 0; i < ANOMALIES; i++) {
    const id = `spike-${i}`;
    const res = await fetch(`${server.url}/api/v1/tenants/${tenantId}/products/${1 + i}/price-event`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({
        event_id: id,
        price_cents: 50_000,
        observed_at: new Date(Date.UTC(2027, 0, 1) + i * 1000).toISOString(),
      }),
    });
    sentAt.set(id, performance.now());
    await res.arrayBuffer();
    await new Promise((r) => setTimeout(r, 50));
  }
  await new Promise((r) => setTimeout(r, 1000));
  for (const c of controllers) c.abort();
  await Promise.all(readers);
  const complete = received.filter((r) => r.length === ANOMALIES).length;

  const result = {
    benchmark: 'prices',
    at: new Date().toISOString(),
    env: machine({ workers: 2, clients, seconds }),
    healthz: ceiling,
    webhook,
    ratio: ratio(webhook.per_sec, ceiling.per_sec),
    sse: {
      listeners,
      anomalies: ANOMALIES,
      listeners_with_all: complete,
      delivery_ms: {
        p50: round(percentile(delays, 50)),
        p99: round(percentile(delays, 99)),
        max: round(percentile(delays, 100)),
      },
    },
  };
  writeResult('prices', result);
  process.stdout.write(
    [
      '| measure | req/s | p50 ms | p99 ms | failures |',
      '|---|---|---|---|---|',
      `| /healthz (ceiling), ${clients} clients | ${ceiling.per_sec} | ${ceiling.p50_ms} | ${ceiling.p99_ms} | ${ceiling.failures} |`,
      `| price-event webhook, ${clients} clients | ${webhook.per_sec} | ${webhook.p50_ms} | ${webhook.p99_ms} | ${webhook.failures} |`,
      `| ratio webhook / ceiling | ${result.ratio} | | | |`,
      `| SSE: ${complete}/${listeners} listeners got all ${ANOMALIES} anomalies; delivery p50 / p99 / max | ${result.sse.delivery_ms.p50} / ${result.sse.delivery_ms.p99} / ${result.sse.delivery_ms.max} ms | | | |`,
      '',
    ].join('\n'),
  );
  process.stdout.write(
    `${JSON.stringify({ benchmark: 'prices', ratio: result.ratio, healthz: ceiling.per_sec, webhook: webhook.per_sec, sse: result.sse })}\n`,
  );
} finally {
  server.child.kill('SIGTERM');
  await server.exited;
  rmSync(dataDir, { recursive: true, force: true });
}
