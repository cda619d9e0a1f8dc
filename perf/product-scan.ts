/**
 * Every product's ranking of a year read in this process, as a ranking's worker reads it (the first tenant
 * of a loaded dataset, its shard through a private reader in one read transaction): the first pass (sums
 * and ranking), then every slice of the pair budget, then every bucket made; per budget, runs alternating
 * (times only: memory is perf/metrics-memory's, a fresh server per answer).
 * It re-runs itself under the server's malloc settings where they are not set (src/node-flags.ts), so block
 * reads cost what they cost in the server; set one to compare (`MALLOC_MMAP_THRESHOLD_=1048576 node …`).
 *   node dist/perf/product-scan.js --data ./data-full1 [--budgets 250000,500000,1000000] [--runs 2] [--out NAME]
 */
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { DEFAULT_SALE_STATUSES, type SalesRequest } from '../src/domain/sales.js';
import { SERVER_MALLOC_ENV } from '../src/node-flags.js';
import { productRanking, scanProducts } from '../src/sales/product-scan.js';
import { openShardReader } from '../src/storage/shards.js';
import { round } from './lib/numbers.js';
import { recordResult } from './lib/results.js';
import { firstTenant } from './lib/sales-server.js';

const { values } = parseArgs({
  options: {
    data: { type: 'string', default: './data-small' },
    budgets: { type: 'string', default: '250000,500000,1000000' },
    runs: { type: 'string', default: '2' },
    out: { type: 'string', default: 'product-scan' },
  },
});

if (Object.keys(SERVER_MALLOC_ENV).some((name) => process.env[name] === undefined)) {
  const again = spawnSync(process.execPath, process.argv.slice(1), {
    stdio: 'inherit',
    env: { ...SERVER_MALLOC_ENV, ...process.env },
  });
  process.exit(again.status ?? 1);
}

const { tenantId } = firstTenant(values.data!);
const request: SalesRequest = {
  groupBy: 'product',
  precision: 'exact',
  source: 'auto',
  statuses: [...DEFAULT_SALE_STATUSES],
  start: Date.parse('2025-01-01'),
  end: Date.parse('2026-01-01'),
  top: Number.MAX_SAFE_INTEGER,
};
const results: Record<string, unknown>[] = [];
for (let run = 0; run < Number(values.runs); run++)
  for (const pairBudget of values.budgets!.split(',').map(Number)) {
    const db = openShardReader(values.data!, tenantId);
    try {
      const t0 = performance.now();
      db.exec('BEGIN');
      const scan = scanProducts(db, request, { top: request.top, pairBudget });
      const firstPass = performance.now() - t0;
      let buckets = 0;
      for (const _ of productRanking(scan, request.top).buckets()) buckets++;
      db.exec('COMMIT');
      results.push({
        pair_budget: pairBudget,
        run,
        buckets,
        slices: scan.sources.slices,
        first_pass_ms: round(firstPass),
        total_ms: round(performance.now() - t0),
      });
    } finally {
      db.close();
    }
  }
process.stdout.write('| pair budget | slices | first pass ms | total ms |\n|---|---|---|---|\n');
for (const r of results)
  process.stdout.write(`| ${r.pair_budget} | ${r.slices} | ${r.first_pass_ms} | ${r.total_ms} |\n`);
recordResult(values.out!, 'product-scan', {
  data: values.data,
  malloc_mmap_threshold: process.env.MALLOC_MMAP_THRESHOLD_,
  results,
});
