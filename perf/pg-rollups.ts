/**
 * The sales pre-aggregates on PostgreSQL (issue 17, src/storage/postgres/rollups.ts), measured in process
 * on the first N orders of a dataset: the first build of every day (as for a tenant whose orders predate
 * them), a refresh after one more batch of 10,000 orders in random time order (a backfill touches most days
 * of the year), the size of every level's rows (hourly, daily, daily and monthly by category) against the
 * orders, and a year by day, week, month and category and a month by hour read from them (approx and
 * exact) against the same question aggregated from the orders (exact), best of five each; a year's top 100
 * products and every product from the line blocks (one read answers both precisions) against the orders.
 *   node dist/perf/pg-rollups.js --dataset ./datasets/small [--orders 200000] [--database-url …] [--out NAME]
 * Prints a table and one JSON line; writes perf/results/NAME.json (pg-rollups.json by default).
 */
import { parseArgs } from 'node:util';
import type pg from 'pg';
import type { SalesRequest } from '../src/domain/sales.js';
import { allBuckets } from '../src/sales/product-scan.js';
import { PgCatalog } from '../src/storage/postgres/catalog.js';
import { LINE_BLOCKS_TABLE } from '../src/storage/postgres/line-blocks.js';
import { migratePostgres } from '../src/storage/postgres/migrations.js';
import { PgOrderWriter } from '../src/storage/postgres/order-writer.js';
import { pgProductsFromBlocks } from '../src/storage/postgres/product-blocks.js';
import {
  pgFromRollups,
  ROLLUP_TABLES,
  type RollupGroup,
  refreshTenantRollups,
} from '../src/storage/postgres/rollups.js';
import { pgSalesFromOrders } from '../src/storage/postgres/sales.js';
import { tenantDir } from '../tools/gen/write-files.js';
import { round } from './lib/numbers.js';
import { readOrders, readProducts } from './lib/orders-file.js';
import { DATABASE_URL_OPTION, inSchema } from './lib/postgres.js';
import { machine, writeResult } from './lib/results.js';

const { values } = parseArgs({
  options: {
    dataset: { type: 'string', default: './datasets/small' },
    orders: { type: 'string', default: '200000' },
    'database-url': DATABASE_URL_OPTION,
    /** results file name under perf/results (without .json) */
    out: { type: 'string', default: 'pg-rollups' },
  },
});
const total = Number(values.orders);
const dir = tenantDir(values.dataset!, 1);
const all = await readOrders(dir, total + 10_000);
const orders = all.slice(0, total);
const backfill = all.slice(total);
// a dataset of exactly --orders orders has none left for the refresh: it would time a refresh of nothing
if (backfill.length < 10_000)
  throw new Error(
    `the dataset holds ${all.length} orders: --orders at most ${all.length - 10_000}, to keep 10,000 for the refresh`,
  );
const products = await readProducts(dir);

const best = async (runs: number, work: () => Promise<unknown>) => {
  let ms = Number.POSITIVE_INFINITY;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await work();
    ms = Math.min(ms, performance.now() - t0);
  }
  return Math.round(ms * 10) / 10;
};

const result = await inSchema(values['database-url']!, async (client, pool) => {
  await migratePostgres(client);
  const { tenant_id: tenant } = await new PgCatalog(pool).createTenant('perf');
  const writer = new PgOrderWriter(client as unknown as pg.ClientBase, tenant);
  for (let i = 0; i < products.length; i += 10_000) await writer.writeProducts(products.slice(i, i + 10_000));
  for (let i = 0; i < orders.length; i += 10_000) await writer.writeBatch(orders.slice(i, i + 10_000));
  await client.query('ANALYZE');
  // as if the orders predated the pre-aggregates: the first build takes every day
  await client.query('DELETE FROM rollup_pending WHERE tenant_id = $1', [tenant]);
  let t0 = performance.now();
  const first = await refreshTenantRollups(client as unknown as pg.ClientBase, tenant);
  const firstMs = performance.now() - t0;
  await writer.writeBatch(backfill);
  t0 = performance.now();
  const after = await refreshTenantRollups(client as unknown as pg.ClientBase, tenant);
  const afterMs = performance.now() - t0;
  const size = async (table: string) =>
    Number(
      (
        await client.query<{ n: string }>(`SELECT pg_total_relation_size($1::regclass) AS n`, [
          `${table}_t${tenant}`,
        ])
      ).rows[0]!.n,
    );
  const rowsOf = async (table: string) =>
    Number(
      (await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${table} WHERE tenant_id = $1`, [tenant]))
        .rows[0]!.n,
    );
  const year = (
    groupBy: RollupGroup,
    precision: 'approx' | 'exact',
  ): SalesRequest & { groupBy: RollupGroup } => ({
    groupBy,
    start: Date.parse('2025-01-01'),
    end: Date.parse(groupBy === 'hour' ? '2025-02-01' : '2026-01-01'),
    precision,
    source: 'auto',
    statuses: ['paid', 'shipped', 'delivered'],
    top: 100,
  });
  const reads: Record<string, { approx_ms: number; exact_ms: number; orders_ms: number }> = {};
  const db = client as unknown as pg.ClientBase;
  for (const g of ['hour', 'day', 'week', 'month', 'category'] as const) {
    for (const precision of ['approx', 'exact'] as const) {
      const check = await pgFromRollups(db, tenant, year(g, precision));
      if (!('answer' in check)) throw new Error(check.notReady);
    }
    reads[g] = {
      approx_ms: await best(5, () => pgFromRollups(db, tenant, year(g, 'approx'))),
      exact_ms: await best(5, () => pgFromRollups(db, tenant, year(g, 'exact'))),
      orders_ms: await best(5, () => pgSalesFromOrders(client, tenant, year(g, 'exact'))),
    };
  }
  // rankings of products from the line blocks (exact in both precisions: one read) against the orders
  for (const [name, top] of [
    ['top 100 products', 100],
    ['every product', 1_000_000],
  ] as const) {
    const r = { ...year('day', 'exact'), groupBy: 'product' as const, top };
    const fromBlocks = async () => {
      const read = await pgProductsFromBlocks(db, tenant, r);
      if (!('ranking' in read)) throw new Error(read.notReady);
      return (await allBuckets(read.ranking)).length;
    };
    const blocksMs = await best(5, fromBlocks);
    reads[name] = {
      approx_ms: blocksMs,
      exact_ms: blocksMs,
      orders_ms: await best(3, () => pgSalesFromOrders(client, tenant, r)),
    };
  }
  return {
    first_build: { ...first, ms: Math.round(firstMs), us_per_order: round((firstMs * 1000) / total, 1) },
    refresh_after_backfill_batch: { ...after, ms: Math.round(afterMs) },
    levels: Object.fromEntries(
      await Promise.all(
        [...ROLLUP_TABLES, LINE_BLOCKS_TABLE].map(async (table) => [
          table,
          { rows: await rowsOf(table), bytes: await size(table) },
        ]),
      ),
    ) as Record<string, { rows: number; bytes: number }>,
    orders_bytes: await size('orders'),
    reads,
  };
});

const out = {
  benchmark: 'pg-rollups',
  at: new Date().toISOString(),
  env: machine(),
  orders: total,
  ...result,
};
writeResult(values.out!, out);
process.stdout.write(
  [
    `| PostgreSQL pre-aggregates, ${total} orders | measured |`,
    '|---|---|',
    `| first build, every day (ms; µs per order) | ${result.first_build.ms} (${result.first_build.us_per_order}); ${result.first_build.rows} rows of every level |`,
    `| refresh after a batch of 10,000 orders in random time order (ms) | ${result.refresh_after_backfill_batch.ms}; ${result.refresh_after_backfill_batch.rows} rows of every level, ${result.refresh_after_backfill_batch.orders} orders read |`,
    `| the orders' partition: bytes | ${result.orders_bytes} |`,
    ...Object.entries(result.levels).map(
      ([table, l]) => `| ${table} rows / bytes | ${l.rows} / ${l.bytes} |`,
    ),
    ...Object.entries(result.reads).map(([g, r]) =>
      g.includes('product')
        ? `| a year's ${g}: from the line blocks (either precision) / from the orders (ms) | ${r.exact_ms} / ${r.orders_ms} |`
        : `| ${g === 'hour' ? 'a month' : 'a year'} by ${g}: approx / exact from the rows / exact from the orders (ms) | ${r.approx_ms} / ${r.exact_ms} / ${r.orders_ms} |`,
    ),
    '',
    JSON.stringify(out),
    '',
  ].join('\n'),
);
