/**
 * Peak server RSS of the heaviest sales answers (top 100 products, every product as Arrow, category and day
 * from the orders), a fresh server per answer, two requests each, RSS sampled every 25 ms.
 *   node dist/perf/metrics-memory.js --data ./data-small [--out NAME] [--cases every,day]
 *   node dist/perf/metrics-memory.js --data KEYS_DIR --database-url URL   (a `--storage postgres` server;
 *     KEYS_DIR holds the keys.json of `gen-dataset --insert --storage postgres --data KEYS_DIR`)
 */
import { parseArgs } from 'node:util';
import { ARROW_STREAM_MEDIA_TYPE } from '../src/domain/sales.js';
import { rssOf, sampleRss } from '../tools/lib/spawn-server.js';
import { round } from './lib/numbers.js';
import { recordResult } from './lib/results.js';
import { firstTenant, metricsServer, YEAR } from './lib/sales-server.js';

const { values } = parseArgs({
  options: {
    data: { type: 'string', default: './data-small' },
    workers: { type: 'string', default: '2' },
    out: { type: 'string', default: 'metrics-memory' },
    /** only the cases whose name contains one of these (comma-separated), e.g. `every,day` */
    cases: { type: 'string' },
    /** a PostgreSQL server's tenants instead (`--data`: the directory of their keys.json, as gen-dataset wrote it) */
    'database-url': { type: 'string' },
  },
});
const storage = values['database-url']
  ? ['--storage', 'postgres', '--database-url', values['database-url']]
  : [];
const { tenantId, apiKey } = firstTenant(values.data!);
const CASES: { name: string; params: string; arrow?: boolean }[] = [
  { name: 'top 100 products', params: `group_by=product&top=100&${YEAR}` },
  { name: 'every product (Arrow)', params: `group_by=product&top=1000000&${YEAR}`, arrow: true },
  { name: 'category, source=orders', params: `group_by=category&precision=exact&source=orders&${YEAR}` },
  { name: 'day, source=orders', params: `group_by=day&precision=exact&source=orders&${YEAR}` },
];
const MB = 2 ** 20;
const picked = values.cases?.split(',');
const cases = CASES.filter((c) => !picked || picked.some((p) => c.name.includes(p)));

const results: Record<string, unknown>[] = [];
for (const c of cases) {
  const server = await metricsServer(values.data!, values.workers!, storage);
  try {
    await new Promise((resolve) => setTimeout(resolve, 500));
    const idle = rssOf(server.child.pid!) ?? 0;
    const rss = sampleRss(server.child.pid!, 25);
    const ms: number[] = [];
    for (let i = 0; i < 2; i++) {
      const t0 = performance.now();
      const res = await fetch(`${server.url}/api/v1/tenants/${tenantId}/metrics/sales?${c.params}`, {
        headers: {
          authorization: `Bearer ${apiKey}`,
          ...(c.arrow ? { accept: ARROW_STREAM_MEDIA_TYPE } : {}),
        },
      });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`${c.name}: ${res.status}`);
      ms.push(round(performance.now() - t0));
    }
    const { peak } = rss.stop();
    results.push({ case: c.name, ms, idle_rss_mb: round(idle / MB), peak_rss_mb: round(peak / MB) });
  } finally {
    server.child.kill('SIGTERM');
    await server.exited;
  }
}
process.stdout.write('| answer | ms (two requests) | idle RSS MB | peak RSS MB |\n|---|---|---|---|\n');
for (const r of results)
  process.stdout.write(
    `| ${r.case} | ${(r.ms as number[]).join(' / ')} | ${r.idle_rss_mb} | ${r.peak_rss_mb} |\n`,
  );
recordResult(values.out!, 'metrics-memory', {
  data: values.data,
  storage: values['database-url'] ? 'postgres' : 'sqlite',
  results,
});
