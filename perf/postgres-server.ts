/**
 * The server on `--storage postgres` (issue 17), against the outside limits in the same run: the first N
 * orders of a dataset posted over HTTP in one request into a fresh tenant, against a plain `COPY` of the
 * same rows (perf/lib/postgres.ts); then one search page of up to 100,000 rows, every field, NDJSON,
 * against a plain read of the same rows in this process (one query with the same columns, newest first,
 * rows as arrays, nothing done with them); a direct CSV export and export jobs (CSV, Parquet) of every
 * order, each downloaded whole and checked against its sha256; how long after the load approx by day is
 * served from the pre-aggregates; then every grouping of the metrics harnesses (EVERY_SHAPE) exact and
 * approx through the server, best of three, against one plain PostgreSQL query each (count DISTINCT,
 * percentile_disc) and DuckDB on the same rows (read from the SQLite run's shard, perf/lib/duckdb-peer.ts).
 * Peak server RSS over each step. The same HTTP steps run first on a SQLite server, for a side-by-side
 * table of the two backends in one run.
 *   node dist/perf/postgres-server.js --dataset ./datasets/small [--orders 200000] [--database-url …] [--out NAME]
 * Prints tables and one JSON line; writes perf/results/NAME.json (postgres-server.json by default).
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
import { duckdbOnTenant } from './lib/duckdb-peer.js';
import { send } from './lib/http.js';
import { mib, ratio, round } from './lib/numbers.js';
import { readOrders, tableLines } from './lib/orders-file.js';
import { DATABASE_URL_OPTION, inSchema, plainCopy } from './lib/postgres.js';
import { machine, writeResult } from './lib/results.js';
import {
  EVERY_PRODUCT_PARAMS,
  EVERY_SHAPE,
  fetchArrowAnswer,
  fetchJsonAnswer,
  type Shape,
  YEAR,
} from './lib/sales-server.js';
import { PERF_ADMIN, startPerfServer } from './lib/server.js';
import { createTenant, loadProducts, postNdjson } from './lib/tenant.js';

const { values } = parseArgs({
  options: {
    dataset: { type: 'string', default: './datasets/small' },
    orders: { type: 'string', default: '200000' },
    'database-url': DATABASE_URL_OPTION,
    /** results file name under perf/results (without .json), e.g. for another size */
    out: { type: 'string', default: 'postgres-server' },
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
  // approx by day over the year: from the pre-aggregates once the server has them (PostgreSQL: its
  // refresher after the load; SQLite: the reads' own catch-up), and how long after the load that was
  const loadedAt = performance.now();
  let readyAfterMs: number | null = null;
  while (readyAfterMs === null && performance.now() - loadedAt < 120_000) {
    const answer = await fetchJsonAnswer(
      server.url,
      t.tenantId,
      t.apiKey,
      `group_by=day&${YEAR}&precision=approx`,
    );
    if (String(answer.meta.method).startsWith('approx')) readyAfterMs = performance.now() - loadedAt;
    else await new Promise((r) => setTimeout(r, 200));
  }
  // every grouping in both precisions, best of three, once approx by day is served from the pre-aggregates
  // (every other approx answer a backend cannot give from them comes from the orders; `method` says which);
  // every product as an Arrow stream read to its last byte
  const shapes: Record<
    string,
    { exact_ms: number; approx_ms: number; buckets: number; approx_method: string }
  > = {};
  for (const shape of EVERY_SHAPE) {
    const times = {
      exact_ms: Number.POSITIVE_INFINITY,
      approx_ms: Number.POSITIVE_INFINITY,
      buckets: 0,
      approx_method: '',
    };
    for (const precision of ['exact', 'approx'] as const)
      for (let run = 0; run < 3; run++) {
        const answer = await (shape.params === null ? fetchArrowAnswer : fetchJsonAnswer)(
          server.url,
          t.tenantId,
          t.apiKey,
          `${shape.params ?? EVERY_PRODUCT_PARAMS}&precision=${precision}`,
        );
        times[`${precision}_ms`] = Math.min(times[`${precision}_ms`], answer.ms);
        times.buckets = answer.buckets;
        if (precision === 'approx') times.approx_method = String(answer.meta.method).slice(0, 60);
      }
    shapes[shape.name] = times;
  }
  return {
    metrics_approx_ready_after_ms: readyAfterMs === null ? null : Math.round(readyAfterMs),
    metrics_by_shape: shapes,
    export_jobs: jobs,
    export_rows_per_sec: Math.round(total / exportSeconds),
    export_peak_rss_mb: mib(exportRss),
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
    const sqlByShape: Record<string, number> = {};
    for (const shape of EVERY_SHAPE) {
      let best = Number.POSITIVE_INFINITY;
      for (let run = 0; run < 3; run++) {
        const t0 = performance.now();
        await client.query(pgShapeSql(shape), [t.tenantId]);
        best = Math.min(best, performance.now() - t0);
      }
      sqlByShape[shape.name] = Math.round(best);
    }
    return {
      ...http,
      sql_by_shape_ms: sqlByShape,
      plain_read_rows_per_sec: Math.round(SEARCH_ROWS / best),
    };
  } finally {
    server.child.kill('SIGTERM');
    await server.exited;
  }
});
// DuckDB on the same rows, read from the SQLite server's shard (every shape, exact and approx, medians of 3)
const duckdb = await duckdbOnTenant(join(work, 'sqlite-data'), sqlite.tenantId, 3);
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
  duckdb: duckdb.shapes,
  export_ratio: ratio(ours.export_rows_per_sec, ours.plain_read_rows_per_sec),
  export_job_ratios: Object.fromEntries(
    Object.entries(ours.export_jobs).map(([format, j]) => [
      format,
      ratio(j.rows_per_sec, ours.plain_read_rows_per_sec),
    ]),
  ),
};
writeResult(values.out!, result);
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
    '',
    `| sales, ${total} orders (ms; a year, hour: a month) | PostgreSQL exact | one query in process | DuckDB exact | PostgreSQL / DuckDB | PostgreSQL approx | DuckDB approx | PostgreSQL / DuckDB |`,
    '|---|---|---|---|---|---|---|---|',
    ...EVERY_SHAPE.map((shape) => {
      const pg = ours.metrics_by_shape[shape.name]!;
      const peer = duckdb.shapes[shape.name]!;
      return `| ${shape.name} (${pg.buckets} buckets) | ${pg.exact_ms} | ${ours.sql_by_shape_ms[shape.name]} | ${peer.exact_ms} | ${ratio(pg.exact_ms, peer.exact_ms)} | ${pg.approx_ms} | ${peer.approx_ms} | ${ratio(pg.approx_ms, peer.approx_ms)} |`;
    }),
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
    line(
      'approx from the pre-aggregates, after the load (ms)',
      a.metrics_approx_ready_after_ms ?? Number.NaN,
      b.metrics_approx_ready_after_ms ?? Number.NaN,
    ),
    ...EVERY_SHAPE.flatMap(({ name }) => [
      line(
        `sales by ${name}, exact (ms)`,
        a.metrics_by_shape[name]!.exact_ms,
        b.metrics_by_shape[name]!.exact_ms,
      ),
      line(
        `sales by ${name}, approx (ms)`,
        a.metrics_by_shape[name]!.approx_ms,
        b.metrics_by_shape[name]!.approx_ms,
      ),
    ]),
  ];
}
