/**
 * The server on `--storage postgres` (issue 17), against the outside limits in the same run: the first N
 * orders of a dataset posted over HTTP in one request into a fresh tenant, against a plain `COPY` of the
 * same rows (perf/lib/postgres.ts); then one search page of up to 100,000 rows, every field, NDJSON,
 * against a plain read of the same rows in this process (one query with the same columns, newest first,
 * rows as arrays, nothing done with them); sales exact in every grouping (a year by day, week, month,
 * category, top 100 products; a month by hour), each against one plain query (count DISTINCT,
 * percentile_disc) on the same rows; a direct CSV export and export jobs (CSV, Parquet) of every order,
 * each downloaded whole and checked against its sha256; approx by day, week and month.
 * Peak server RSS over each step. The same HTTP steps run first on a SQLite server, for a side-by-side
 * table of the two backends in one run.
 *   node dist/perf/postgres-server.js --dataset ./datasets/small [--orders 200000] [--database-url …]
 * Prints a table and one JSON line; writes perf/results/postgres-server.json.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { SEARCH_FIELDS } from '../src/domain/search.js';
import { buildPgSearchSql } from '../src/storage/postgres/search-sql.js';
import { tenantDir } from '../tools/gen/write-files.js';
import { sampleRss } from '../tools/lib/spawn-server.js';
import { send } from './lib/http.js';
import { mib, ratio, round } from './lib/numbers.js';
import { readOrders, tableLines } from './lib/orders-file.js';
import { DATABASE_URL_OPTION, inSchema, plainCopy } from './lib/postgres.js';
import { machine, writeResult } from './lib/results.js';
import { EVERY_SHAPE, type Shape } from './lib/sales-server.js';
import { PERF_ADMIN, startPerfServer } from './lib/server.js';
import { createTenant, loadProducts, postNdjson } from './lib/tenant.js';

const { values } = parseArgs({
  options: {
    dataset: { type: 'string', default: './datasets/small' },
    orders: { type: 'string', default: '200000' },
    'database-url': DATABASE_URL_OPTION,
  },
});
const url = values['database-url']!;
const total = Number(values.orders);
const SEARCH_ROWS = Math.min(100_000, total);
const dir = tenantDir(values.dataset!, 1);
const work = mkdtempSync(join(tmpdir(), 'orderflow-pg-server-'));
const body = join(work, 'orders.ndjson');
{
  const lines: string[] = [];
  for await (const line of tableLines(dir, 'orders', total)) lines.push(line);
  writeFileSync(body, `${lines.join('\n')}\n`);
}
const orders = await readOrders(dir, total);

const plain = await plainCopy(url, orders, 10_000);

/** Every grouping the harness asks, as PostgreSQL's outside query reads it (EVERY_SHAPE's JSON ones). */
const PG_SHAPES: Record<string, Shape> = Object.fromEntries(
  EVERY_SHAPE.filter((s) => s.params !== null).map((s) => [
    s.time ?? (s.key === 'category' ? 'category' : 'product'),
    s,
  ]),
);

/**
 * A shape as one plain PostgreSQL query over the tenant's rows ($1): by time over the orders, by category
 * or product over their lines, each order's lines of a key summed first so an order counts once per key.
 */
function pgShapeSql(shape: Shape): string {
  const sale = "status IN ('paid', 'shipped', 'delivered')";
  const stats =
    'count(DISTINCT customer_pk), percentile_disc(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY total_cents)';
  if (shape.time) {
    const [from, to] = shape.time === 'hour' ? ['2025-06-01', '2025-07-01'] : ['2025-01-01', '2026-01-01'];
    return `SELECT date_trunc('${shape.time}', created_at AT TIME ZONE 'UTC') AS k, count(*), sum(total_cents), ${stats}
      FROM orders WHERE tenant_id = $1 AND ${sale}
        AND created_at >= '${from}Z' AND created_at < '${to}Z' GROUP BY k ORDER BY k`;
  }
  const byCategory = shape.key === 'category';
  return `SELECT k, count(*) AS orders, sum(units), sum(revenue) AS revenue, ${stats}
    FROM (SELECT ${byCategory ? 'p.category' : 'i.product_id'} AS k, o.order_pk, min(o.customer_pk) AS customer_pk,
            min(o.total_cents) AS total_cents, sum(i.quantity) AS units,
            sum(i.quantity * i.unit_price_cents) AS revenue
          FROM orders o JOIN order_items i ON i.tenant_id = o.tenant_id AND i.order_pk = o.order_pk
          ${byCategory ? 'JOIN products p ON p.tenant_id = i.tenant_id AND p.product_id = i.product_id' : ''}
          WHERE o.tenant_id = $1 AND o.${sale}
            AND o.created_at >= '2025-01-01Z' AND o.created_at < '2026-01-01Z'
          GROUP BY 1, 2) per_order
    GROUP BY k ${shape.top ? `ORDER BY revenue DESC LIMIT ${shape.top}` : 'ORDER BY k'}`;
}

/** What a user sees over HTTP: every step of this benchmark on a running server of either backend. */
async function overHttp(
  server: Awaited<ReturnType<typeof startPerfServer>>,
  afterIngest: () => Promise<void>,
) {
  const t = await createTenant(server.url, PERF_ADMIN, 'perf');
  await loadProducts(server.url, t.auth, dir);
  let sampler = sampleRss(server.child.pid!, 100);
  let started = performance.now();
  const summary = await postNdjson(server.url, t.auth, '/api/v1/ingest/orders/', body);
  const ingestSeconds = (performance.now() - started) / 1000;
  const ingestRss = sampler.stop().peak;
  if (summary.rows_inserted !== total) throw new Error(`inserted ${summary.rows_inserted} of ${total}`);
  await afterIngest();

  // the search page, then the same rows read plainly in this process
  sampler = sampleRss(server.child.pid!, 100);
  started = performance.now();
  const page = await send(`${server.url}/api/v1/tenants/${t.tenantId}/orders/search?limit=${SEARCH_ROWS}`, {
    headers: t.auth,
  });
  const searchSeconds = (performance.now() - started) / 1000;
  const searchRss = sampler.stop().peak;
  const rows = page.text.split('\n').length - 2; // the meta line and the final newline
  if (page.status !== 200 || rows !== SEARCH_ROWS) throw new Error(`search: ${page.status}, ${rows} rows`);
  // a direct CSV export of every order (stripes on the workers), against the plain read's rate
  sampler = sampleRss(server.child.pid!, 100);
  started = performance.now();
  const exported = await send(`${server.url}/api/v1/tenants/${t.tenantId}/reports/export`, {
    method: 'POST',
    headers: { ...t.auth, accept: 'text/csv', 'content-type': 'application/json' },
    body: '{}',
  });
  const exportSeconds = (performance.now() - started) / 1000;
  const exportRss = sampler.stop().peak;
  const exportedRows = exported.text.split('\r\n').length - 2; // the header and the final line break
  if (exported.status !== 200 || exportedRows !== total)
    throw new Error(`export: ${exported.status}, ${exportedRows} rows`);
  // export jobs of every order, every field: POST, poll until complete (encoded into the database), then
  // the file downloaded whole; the same plain read as the limit of the job, peak RSS over both
  const jobs: Record<
    string,
    { rows_per_sec: number; download_mb_per_sec: number; size_mb: number; peak_rss_mb: number }
  > = {};
  for (const format of ['csv', 'parquet'] as const) {
    sampler = sampleRss(server.child.pid!, 100);
    started = performance.now();
    const created = await send(`${server.url}/api/v1/tenants/${t.tenantId}/reports/export`, {
      method: 'POST',
      headers: { ...t.auth, 'content-type': 'application/json' },
      body: JSON.stringify({ format }),
    });
    if (created.status !== 202)
      throw new Error(
        `export job: ${created.status} ${created.text}; server errors: ${JSON.stringify(server.logs.filter((l) => l.level === 'error'))}`,
      );
    const { status_url, download_url } = JSON.parse(created.text) as {
      status_url: string;
      download_url: string;
    };
    let state: { state: string; rows_written: number; size: number; sha256: string; error: string | null };
    for (;;) {
      state = JSON.parse(
        (await send(`${server.url}${status_url}`, { headers: t.auth })).text,
      ) as typeof state;
      if (state.state !== 'queued' && state.state !== 'running') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const jobSeconds = (performance.now() - started) / 1000;
    if (state.state !== 'complete' || state.rows_written !== total)
      throw new Error(`export job ${format}: ${state.state} ${state.rows_written} rows ${state.error ?? ''}`);
    started = performance.now();
    const file = await fetch(`${server.url}${download_url}`, { headers: t.auth });
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of file.body!) {
      hash.update(chunk);
      size += chunk.length;
    }
    const downloadSeconds = (performance.now() - started) / 1000;
    if (size !== state.size || hash.digest('hex') !== state.sha256)
      throw new Error(`download ${format}: wrong bytes`);
    jobs[format] = {
      rows_per_sec: Math.round(total / jobSeconds),
      download_mb_per_sec: round(size / 1024 / 1024 / downloadSeconds, 1),
      size_mb: round(size / 1024 / 1024, 1),
      peak_rss_mb: mib(sampler.stop().peak),
    };
  }
  // sales by day over the loaded orders, through the server, and the same numbers from one SQL query
  // (PostgreSQL only: GROUP BY day with count(DISTINCT) and percentile_disc) in this process
  const sales = `${server.url}/api/v1/tenants/${t.tenantId}/metrics/sales?group_by=day&start_date=2025-01-01&end_date=2026-01-01&precision=exact`;
  let metricsBest = Number.POSITIVE_INFINITY;
  let buckets = 0;
  for (let run = 0; run < 3; run++) {
    const t0 = performance.now();
    const answer = await send(sales, { headers: t.auth });
    metricsBest = Math.min(metricsBest, performance.now() - t0);
    buckets = (JSON.parse(answer.text) as { data: unknown[] }).data.length;
  }
  // every other grouping through the server, best of three (PostgreSQL aggregates the orders, and their
  // lines for category and product; hours over one month, the rest over the year)
  const groupings: Record<string, { ms: number; buckets: number }> = {};
  for (const [groupBy, range] of [
    ['hour', 'start_date=2025-06-01&end_date=2025-07-01'],
    ['week', 'start_date=2025-01-01&end_date=2026-01-01'],
    ['month', 'start_date=2025-01-01&end_date=2026-01-01'],
    ['category', 'start_date=2025-01-01&end_date=2026-01-01'],
    ['product', 'start_date=2025-01-01&end_date=2026-01-01&top=100'],
  ] as const) {
    let best = Number.POSITIVE_INFINITY;
    let count = 0;
    for (let run = 0; run < 3; run++) {
      const t0 = performance.now();
      const answer = await send(
        `${server.url}/api/v1/tenants/${t.tenantId}/metrics/sales?group_by=${groupBy}&${range}&precision=exact`,
        { headers: t.auth },
      );
      best = Math.min(best, performance.now() - t0);
      if (answer.status !== 200) throw new Error(`sales by ${groupBy}: ${answer.status} ${answer.text}`);
      count = (JSON.parse(answer.text) as { data: unknown[] }).data.length;
    }
    groupings[groupBy] = { ms: Math.round(best), buckets: count };
  }
  // approx by day, week and month: from the pre-aggregates once the server has them (PostgreSQL: its
  // refresher after the load; SQLite: the reads' own catch-up), and how long after the load that was
  const approx: Record<string, { ms: number; method: string }> = {};
  const loadedAt = performance.now();
  let readyAfterMs: number | null = null;
  for (const groupBy of ['day', 'week', 'month'] as const) {
    const url = `${server.url}/api/v1/tenants/${t.tenantId}/metrics/sales?group_by=${groupBy}&start_date=2025-01-01&end_date=2026-01-01&precision=approx`;
    let best = Number.POSITIVE_INFINITY;
    let method = '';
    for (
      let run = 0;
      run < 3 || (!method.startsWith('approx') && performance.now() - loadedAt < 120_000);
      run++
    ) {
      const t0 = performance.now();
      const answer = await send(url, { headers: t.auth });
      const took = performance.now() - t0;
      method = (JSON.parse(answer.text) as { meta: { method: string } }).meta.method;
      if (method.startsWith('approx')) {
        readyAfterMs ??= performance.now() - loadedAt;
        best = Math.min(best, took);
      } else await new Promise((r) => setTimeout(r, 200));
    }
    approx[groupBy] = { ms: Math.round(best), method: method.slice(0, 60) };
  }
  return {
    metrics_approx_ms: approx,
    metrics_approx_ready_after_ms: readyAfterMs === null ? null : Math.round(readyAfterMs),
    metrics_by_grouping_ms: groupings,
    export_jobs: jobs,
    export_rows_per_sec: Math.round(total / exportSeconds),
    export_peak_rss_mb: mib(exportRss),
    metrics_day_ms: Math.round(metricsBest),
    metrics_day_buckets: buckets,
    ingest_orders_per_sec: Math.round(total / ingestSeconds),
    ingest_peak_rss_mb: mib(ingestRss),
    search_rows_per_sec: Math.round(SEARCH_ROWS / searchSeconds),
    search_peak_rss_mb: mib(searchRss),
    tenantId: t.tenantId,
  };
}

/** The same steps on a SQLite server first (side by side), then on PostgreSQL with the outside limits. */
const sqlite = await (async () => {
  const server = await startPerfServer(join(work, 'sqlite-data'));
  try {
    return await overHttp(server, async () => {});
  } finally {
    server.child.kill('SIGTERM');
    await server.exited;
  }
})();

const ours = await inSchema(url, async (client, _pool, schemaUrl) => {
  const server = await startPerfServer(join(work, 'data'), [
    '--storage',
    'postgres',
    '--database-url',
    schemaUrl,
  ]);
  try {
    const http = await overHttp(server, async () => {
      await client.query('ANALYZE');
    });
    const t = { tenantId: http.tenantId };
    const { sql, params } = buildPgSearchSql(t.tenantId, {}, SEARCH_FIELDS, null, SEARCH_ROWS);
    let best = Number.POSITIVE_INFINITY;
    for (let run = 0; run < 3; run++) {
      const t0 = performance.now();
      const result = await client.query({ text: sql, values: params, rowMode: 'array' });
      if (result.rows.length !== SEARCH_ROWS) throw new Error('plain read: wrong row count');
      best = Math.min(best, (performance.now() - t0) / 1000);
    }
    // every grouping's outside query (the shapes DuckDB answers in perf/lib/duckdb-peer.ts, written for
    // PostgreSQL: count DISTINCT, percentile_disc), best of three
    const sqlByGrouping: Record<string, number> = {};
    for (const [groupBy, shape] of Object.entries(PG_SHAPES)) {
      let best = Number.POSITIVE_INFINITY;
      for (let run = 0; run < 3; run++) {
        const t0 = performance.now();
        await client.query(pgShapeSql(shape), [t.tenantId]);
        best = Math.min(best, performance.now() - t0);
      }
      sqlByGrouping[groupBy] = Math.round(best);
    }
    return {
      ...http,
      sql_day_ms: sqlByGrouping.day!,
      sql_by_grouping_ms: sqlByGrouping,
      plain_read_rows_per_sec: Math.round(SEARCH_ROWS / best),
    };
  } finally {
    server.child.kill('SIGTERM');
    await server.exited;
  }
});
rmSync(work, { recursive: true, force: true });

const result = {
  benchmark: 'postgres-server',
  at: new Date().toISOString(),
  env: machine(),
  orders: total,
  search_rows: SEARCH_ROWS,
  plain_copy_orders_per_sec: plain.orders_per_sec,
  ...ours,
  sqlite,
  ingest_ratio: ratio(ours.ingest_orders_per_sec, plain.orders_per_sec),
  search_ratio: ratio(ours.search_rows_per_sec, ours.plain_read_rows_per_sec),
  metrics_ratio: ratio(ours.metrics_day_ms, ours.sql_day_ms),
  export_ratio: ratio(ours.export_rows_per_sec, ours.plain_read_rows_per_sec),
  export_job_ratios: Object.fromEntries(
    Object.entries(ours.export_jobs).map(([format, j]) => [
      format,
      ratio(j.rows_per_sec, ours.plain_read_rows_per_sec),
    ]),
  ),
};
writeResult('postgres-server', result);
process.stdout.write(
  [
    `| --storage postgres, ${total} orders | ours over HTTP | outside limit, same run | ratio | peak server RSS MB |`,
    '|---|---|---|---|---|',
    `| ingest, one request (orders/s) | ${ours.ingest_orders_per_sec} | ${plain.orders_per_sec} (plain COPY) | ${result.ingest_ratio} | ${ours.ingest_peak_rss_mb} |`,
    `| search, ${SEARCH_ROWS} rows, every field, NDJSON (rows/s) | ${ours.search_rows_per_sec} | ${ours.plain_read_rows_per_sec} (one query in process) | ${result.search_ratio} | ${ours.search_peak_rss_mb} |`,
    `| direct CSV export, every order, stripes (rows/s) | ${ours.export_rows_per_sec} | ${ours.plain_read_rows_per_sec} (the plain read above) | ${result.export_ratio} | ${ours.export_peak_rss_mb} |`,
    ...Object.entries(ours.export_jobs).map(
      ([format, j]) =>
        `| ${format} export job, every order, to complete (rows/s); then its download (${j.size_mb} MB at ${j.download_mb_per_sec} MB/s) | ${j.rows_per_sec} | ${ours.plain_read_rows_per_sec} (the plain read above) | ${result.export_job_ratios[format]} | ${j.peak_rss_mb} |`,
    ),
    `| sales by day, a year, exact (ms; lower is better) | ${ours.metrics_day_ms} (${ours.metrics_day_buckets} days) | ${ours.sql_day_ms} (one GROUP BY query in process) | ${result.metrics_ratio} (ours / SQL) | |`,
    ...Object.entries(ours.metrics_by_grouping_ms).map(
      ([groupBy, g]) =>
        `| sales by ${groupBy}, exact (ms; ${groupBy === 'hour' ? 'a month' : 'a year'}, ${g.buckets} buckets) | ${g.ms} | ${ours.sql_by_grouping_ms[groupBy]} (one query in process) | ${ratio(g.ms, ours.sql_by_grouping_ms[groupBy]!)} (ours / SQL) | |`,
    ),
    '',
    `| the same steps, same run, ${total} orders | SQLite | PostgreSQL | PostgreSQL / SQLite |`,
    '|---|---|---|---|',
    ...sideBySide(sqlite, ours),
    '',
    JSON.stringify(result),
    '',
  ].join('\n'),
);

/** One line per measure of both servers; times are lower-is-better, rates higher-is-better. */
function sideBySide(a: typeof sqlite, b: typeof sqlite): string[] {
  const line = (name: string, x: number, y: number) => `| ${name} | ${x} | ${y} | ${ratio(y, x)} |`;
  return [
    line('ingest, one request (orders/s)', a.ingest_orders_per_sec, b.ingest_orders_per_sec),
    line('ingest peak RSS (MB)', a.ingest_peak_rss_mb, b.ingest_peak_rss_mb),
    line(`search page of ${SEARCH_ROWS} rows (rows/s)`, a.search_rows_per_sec, b.search_rows_per_sec),
    line('search peak RSS (MB)', a.search_peak_rss_mb, b.search_peak_rss_mb),
    line('direct CSV export (rows/s)', a.export_rows_per_sec, b.export_rows_per_sec),
    ...Object.keys(a.export_jobs).flatMap((f) => [
      line(
        `${f} export job to complete (rows/s)`,
        a.export_jobs[f]!.rows_per_sec,
        b.export_jobs[f]!.rows_per_sec,
      ),
      line(
        `${f} download (MB/s)`,
        a.export_jobs[f]!.download_mb_per_sec,
        b.export_jobs[f]!.download_mb_per_sec,
      ),
    ]),
    line('sales by day, a year, exact (ms)', a.metrics_day_ms, b.metrics_day_ms),
    ...Object.keys(a.metrics_approx_ms).map((g) =>
      line(`sales by ${g}, a year, approx (ms)`, a.metrics_approx_ms[g]!.ms, b.metrics_approx_ms[g]!.ms),
    ),
    line(
      'approx from the pre-aggregates, after the load (ms)',
      a.metrics_approx_ready_after_ms ?? Number.NaN,
      b.metrics_approx_ready_after_ms ?? Number.NaN,
    ),
    ...Object.keys(a.metrics_by_grouping_ms).map((g) =>
      line(`sales by ${g}, exact (ms)`, a.metrics_by_grouping_ms[g]!.ms, b.metrics_by_grouping_ms[g]!.ms),
    ),
  ];
}
