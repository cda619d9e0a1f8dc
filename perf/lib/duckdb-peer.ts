/**
 * DuckDB as the peer of the sales metrics (perf/metrics, perf/first-read): the tenant's orders written to
 * Parquet with our own exporter and its products' categories to CSV, loaded into DuckDB tables in memory
 * (the order lines joined to their orders and categories once beforehand), then every shape of
 * perf/lib/sales-server's EVERY_SHAPE asked exact (count DISTINCT, quantile_disc) and approx
 * (approx_count_distinct, approx_quantile): medians of `runs`, in process.
 */
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { DEFAULT_SALE_STATUSES } from '../../src/domain/sales.js';
import { createExportEncoder, encodedFile } from '../../src/formats/export-encoder.js';
import { exportBatches } from '../../src/storage/export-batches.js';
import { shardPath } from '../../src/storage/shards.js';
import { openDatabase } from '../../src/storage/sqlite.js';
import { round } from './numbers.js';
import { EVERY_SHAPE, type Shape } from './sales-server.js';

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** DuckDB's answers to the tenant's sales questions: the year by day, and every shape. */
export async function duckdbOnTenant(dataDir: string, tenantId: number, runs: number) {
  const scratch = mkdtempSync(join(tmpdir(), 'orderflow-duckdb-peer-'));
  try {
    return await duckdbPeer(
      await ordersAsParquet(dataDir, tenantId, scratch),
      productsAsCsv(dataDir, tenantId, scratch),
      runs,
    );
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** The tenant's orders as a Parquet file (our exporter, in process): what DuckDB loads. */
async function ordersAsParquet(dataDir: string, tenantId: number, dir: string): Promise<string> {
  const path = join(dir, 'orders.parquet');
  const db = openDatabase(shardPath(dataDir, tenantId), { readonly: true });
  const fields = ['order_id', 'created_at', 'status', 'total_cents', 'customer_id', 'items'] as const;
  const encoder = await createExportEncoder('parquet', 'zstd', fields);
  const fd = openSync(path, 'w');
  for (const bytes of encodedFile(encoder, exportBatches(db, {}, fields, null, 65536))) writeSync(fd, bytes);
  closeSync(fd);
  db.close();
  return path;
}

/** The tenant's products and their categories as CSV: what DuckDB joins the order lines to. */
function productsAsCsv(dataDir: string, tenantId: number, dir: string): string {
  const path = join(dir, 'products.csv');
  const db = openDatabase(shardPath(dataDir, tenantId), { readonly: true });
  const rows = db.prepare('SELECT product_id, category FROM products').raw().all() as [number, string][];
  writeFileSync(
    path,
    `product_id,category\n${rows.map(([id, c]) => `${id},"${c.replaceAll('"', '""')}"`).join('\n')}\n`,
  );
  db.close();
  return path;
}

/** DuckDB over the same orders and the same question as `group_by=day` for 2025: medians of `runs`. */
async function duckdbPeer(parquet: string, productsCsv: string, runs: number) {
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  await conn.run(`CREATE TABLE orders AS SELECT * EXCLUDE (items) FROM read_parquet('${parquet}')`);
  // the order lines with their order's fields and their product's category, joined once beforehand
  // (DuckDB's queries below get that join for free)
  await conn.run(`CREATE TABLE lines AS
    SELECT l.order_id, l.created_at, l.status, l.customer_id, l.total_cents, l.it.product_id AS product_id,
      l.it.quantity AS quantity, l.it.unit_price_cents AS unit_price_cents, p.category
    FROM (SELECT order_id, created_at, status, customer_id, total_cents, unnest(items) AS it
          FROM read_parquet('${parquet}')) l
    JOIN read_csv('${productsCsv}') p ON p.product_id = l.it.product_id`);
  const statuses = DEFAULT_SALE_STATUSES.map((s) => `'${s}'`).join(',');
  const where = `WHERE created_at >= TIMESTAMP '2025-01-01' AND created_at < TIMESTAMP '2026-01-01' AND status IN (${statuses})`;
  const query = (distinct: string, quantile: string) =>
    `SELECT date_trunc('day', created_at) AS day, count(*), sum(total_cents), ${distinct}, ${quantile}
     FROM orders ${where} GROUP BY day ORDER BY day`;
  const time = async (sql: string) => {
    const ms: number[] = [];
    let rows = 0;
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      rows = (await conn.runAndReadAll(sql)).getRows().length;
      ms.push(performance.now() - t0);
    }
    return { ms: round(median(ms)), rows };
  };
  const approx = await time(
    query('approx_count_distinct(customer_id)', 'approx_quantile(total_cents, [0.5, 0.95, 0.99])'),
  );
  const exact = await time(
    query('count(DISTINCT customer_id)', 'quantile_disc(total_cents, [0.5, 0.95, 0.99])'),
  );
  const threads = Number((await conn.runAndReadAll("SELECT current_setting('threads')")).getRows()[0]![0]);
  const shapes = await duckdbEveryShape(time, statuses);
  conn.closeSync();
  return { threads, approx, exact, shapes };
}

/** DuckDB's query for a shape: exact (count DISTINCT, quantile_disc) or approx (approx_*). */
function duckdbQuery(shape: Shape, approx: boolean, statuses: string): string {
  const distinct = approx ? 'approx_count_distinct(customer_id)' : 'count(DISTINCT customer_id)';
  const quantile = approx
    ? 'approx_quantile(total_cents, [0.5, 0.95, 0.99])'
    : 'quantile_disc(total_cents, [0.5, 0.95, 0.99])';
  if (shape.time) {
    const [from, to] = shape.time === 'hour' ? ['2025-06-01', '2025-07-01'] : ['2025-01-01', '2026-01-01'];
    return `SELECT date_trunc('${shape.time}', created_at) AS k, count(*), sum(total_cents), ${distinct}, ${quantile}
      FROM orders WHERE created_at >= TIMESTAMP '${from}' AND created_at < TIMESTAMP '${to}'
        AND status IN (${statuses}) GROUP BY k ORDER BY k`;
  }
  // each order's lines of a key summed first, so an order counts once per key, as ours does
  const order = shape.top ? `ORDER BY revenue DESC LIMIT ${shape.top}` : 'ORDER BY k';
  return `SELECT k, count(*) AS orders, sum(units), sum(revenue) AS revenue, ${distinct}, ${quantile}
    FROM (SELECT ${shape.key} AS k, order_id, any_value(customer_id) AS customer_id,
            any_value(total_cents) AS total_cents, sum(quantity) AS units, sum(quantity * unit_price_cents) AS revenue
          FROM lines WHERE created_at >= TIMESTAMP '2025-01-01' AND created_at < TIMESTAMP '2026-01-01'
            AND status IN (${statuses}) GROUP BY k, order_id)
    GROUP BY k ${order}`;
}

/** DuckDB's medians for every shape, exact and approx. */
async function duckdbEveryShape(
  time: (sql: string) => Promise<{ ms: number; rows: number }>,
  statuses: string,
) {
  const out: Record<string, { exact_ms: number; approx_ms: number; rows: number }> = {};
  for (const shape of EVERY_SHAPE) {
    const exact = await time(duckdbQuery(shape, false, statuses));
    const approx = await time(duckdbQuery(shape, true, statuses));
    out[shape.name] = { exact_ms: exact.ms, approx_ms: approx.ms, rows: exact.rows };
  }
  return out;
}
