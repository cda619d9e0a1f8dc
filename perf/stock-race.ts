/**
 * Issue 9's race: 16 concurrent clients send stock bulk updates over 100 hot and 10,000 cold products
 * for a fixed time, then the final state is checked against the replies. Exits 1 on any mismatch.
 *   node dist/perf/stock-race.js [--seconds 30] [--clients 16] [--mode merge|last_write_wins|reject|all]
 *     [--postgres [--database-url …]]  (the server on PostgreSQL, in a scratch schema)
 * Prints a table and one JSON line per mode; writes perf/results/stock-race.json.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { spawnServer } from '../tools/lib/spawn-server.js';
import { percentile, round } from './lib/numbers.js';
import { DATABASE_URL_OPTION, scratchSchema } from './lib/postgres.js';
import { writeResult } from './lib/results.js';
import { createTenant } from './lib/tenant.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '30' },
    clients: { type: 'string', default: '16' },
    mode: { type: 'string', default: 'all' },
    batch: { type: 'string', default: '50' },
    /** run the server on PostgreSQL (a scratch schema of the database, dropped after) */
    postgres: { type: 'boolean', default: false },
    'database-url': DATABASE_URL_OPTION,
  },
});
const seconds = Number(values.seconds);
const clients = Number(values.clients);
const batch = Number(values.batch);
const HOT = 100;
const COLD = 10_000;
const INITIAL = 1_000_000;
const modes = values.mode === 'all' ? ['merge', 'last_write_wins', 'reject'] : [values.mode!];
const ADMIN = 'perf-admin';

type Result = {
  product_id: number;
  status: string;
  quantity: number;
  version: number;
  events_applied: number;
};

const dataDir = mkdtempSync(join(tmpdir(), 'orderflow-stock-'));
const schema = values.postgres ? await scratchSchema(values['database-url']!) : null;
const server = await spawnServer([
  '--data',
  dataDir,
  '--admin-token',
  ADMIN,
  '--log-level',
  'warn',
  '--workers',
  '2',
  ...(schema ? ['--storage', 'postgres', '--database-url', schema.url] : []),
]);
const report: Record<string, unknown>[] = [];
let failed = false;
try {
  for (const mode of modes) {
    const { tenantId, auth: headers } = await createTenant(server.url, ADMIN, `race-${mode}`);
    const products = Array.from({ length: HOT + COLD }, (_, i) =>
      JSON.stringify({
        product_id: i + 1,
        sku: `S${i + 1}`,
        name: `P${i + 1}`,
        category: 'c',
        price_cents: 100,
        stock: INITIAL,
      }),
    ).join('\n');
    await fetch(`${server.url}/api/v1/ingest/products/`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/x-ndjson' },
      body: products,
    });
    // what each client believes the versions are (reject mode reads them from replies)
    const knownVersion = new Map<number, number>();
    const expected = new Map<number, { delta: number; groups: number; lastQty: number | null }>();
    const latencies: number[] = [];
    let eventsSent = 0;
    let eventsApplied = 0;
    const statusCounts: Record<string, number> = {};
    let seq = 0;
    let clock = Date.UTC(2026, 0, 1);
    const until = performance.now() + seconds * 1000;
    const client = async (c: number) => {
      let rnd = c * 7919 + 1;
      const next = () => {
        rnd = (Math.imul(rnd, 1103515245) + 12345) >>> 0;
        return rnd / 2 ** 32;
      };
      while (performance.now() < until) {
        const events = Array.from({ length: batch }, () => {
          const product_id =
            next() < 0.8 ? 1 + Math.floor(next() * HOT) : HOT + 1 + Math.floor(next() * COLD);
          // time mostly moves forward, sometimes back: last_write_wins sees late writes
          clock += 1000 * (next() < 0.2 ? -2 : 1);
          const base = {
            event_id: `${mode}-${c}-${seq++}`,
            product_id,
            occurred_at: new Date(clock).toISOString(),
          };
          if (mode === 'merge') return { ...base, delta: next() < 0.5 ? -1 : 1 };
          if (mode === 'last_write_wins') return { ...base, quantity: Math.floor(next() * 1000) };
          return { ...base, delta: -1, expected_version: knownVersion.get(product_id) ?? 0 };
        });
        const t0 = performance.now();
        const res = await fetch(`${server.url}/api/v1/tenants/${tenantId}/stock/bulk_update`, {
          method: 'PUT',
          headers: { ...headers, 'content-type': 'application/json' },
          body: JSON.stringify({ mode, events }),
        });
        const body = (await res.json()) as { results: Result[] };
        latencies.push(performance.now() - t0);
        if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${JSON.stringify(body)}`);
        eventsSent += events.length;
        for (const r of body.results) {
          statusCounts[r.status] = (statusCounts[r.status] ?? 0) + 1;
          knownVersion.set(r.product_id, r.version);
          eventsApplied += r.events_applied;
          if (r.status !== 'applied' || r.events_applied === 0) continue;
          const e = expected.get(r.product_id) ?? { delta: 0, groups: 0, lastQty: null };
          e.groups++;
          if (mode !== 'last_write_wins')
            e.delta += events
              .filter((x) => x.product_id === r.product_id)
              .reduce((s, x) => s + ((x as { delta?: number }).delta ?? 0), 0);
          expected.set(r.product_id, e);
        }
      }
    };
    const started = performance.now();
    await Promise.all(Array.from({ length: clients }, (_, c) => client(c)));
    const elapsed = (performance.now() - started) / 1000;
    // verify: stock = initial + applied deltas (merge, reject), version = applied groups (all modes)
    let mismatches = 0;
    for (let id = 1; id <= HOT + COLD; id++) {
      const e = expected.get(id);
      if (!e && id > HOT + 50) continue; // untouched cold products: checked by sample below
      const p = (await (
        await fetch(`${server.url}/api/v1/tenants/${tenantId}/products/${id}`, { headers })
      ).json()) as { stock: number; stock_version: number };
      const wantVersion = e?.groups ?? 0;
      const wantStock = mode === 'last_write_wins' ? p.stock : INITIAL + (e?.delta ?? 0);
      if (p.stock_version !== wantVersion || p.stock !== wantStock) {
        mismatches++;
        if (mismatches <= 5)
          process.stderr.write(
            `mismatch product ${id}: got ${p.stock}/v${p.stock_version}, want ${wantStock}/v${wantVersion}\n`,
          );
      }
    }
    const products_total = Object.values(statusCounts).reduce((a, b) => a + b, 0);
    const row = {
      mode,
      clients,
      seconds: round(elapsed),
      requests: latencies.length,
      events_sent: eventsSent,
      events_applied: eventsApplied,
      events_applied_per_sec: Math.round(eventsApplied / elapsed),
      latency_ms: {
        p50: round(percentile(latencies, 50)),
        p99: round(percentile(latencies, 99)),
      },
      product_groups: statusCounts,
      conflict_rate:
        Math.round(
          (((statusCounts.rejected ?? 0) + (statusCounts.stale ?? 0)) / Math.max(1, products_total)) * 1000,
        ) / 1000,
      verified_products: expected.size,
      mismatches,
    };
    if (mismatches) failed = true;
    report.push(row);
    process.stdout.write(`${JSON.stringify(row)}\n`);
  }
  writeResult(schema ? 'stock-race-postgres' : 'stock-race', {
    storage: schema ? 'postgres' : 'sqlite',
    benchmark: 'stock-race',
    at: new Date().toISOString(),
    hot: HOT,
    cold: COLD,
    batch,
    results: report,
  });
  process.stdout.write(
    '| mode | events applied/s | p50 ms | p99 ms | conflict rate | mismatches |\n|---|---|---|---|---|---|\n',
  );
  for (const r of report as {
    mode: string;
    events_applied_per_sec: number;
    latency_ms: { p50: number; p99: number };
    conflict_rate: number;
    mismatches: number;
  }[]) {
    process.stdout.write(
      `| ${r.mode} | ${r.events_applied_per_sec} | ${r.latency_ms.p50} | ${r.latency_ms.p99} | ${r.conflict_rate} | ${r.mismatches} |\n`,
    );
  }
} finally {
  server.child.kill('SIGTERM');
  await server.exited;
  await schema?.drop();
  rmSync(dataDir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
