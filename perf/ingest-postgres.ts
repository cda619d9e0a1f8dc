/**
 * Orders into PostgreSQL (issue 17) against the outside limit in the same run: the first N orders of a
 * dataset written by our PostgreSQL writer (src/storage/postgres/order-writer.ts: COPY into staging, then
 * INSERT … SELECT … ON CONFLICT DO NOTHING RETURNING, the full schema of sql/postgres with its partitions,
 * GIN and keyset indexes), and the same rows by a plain `COPY` into minimal tables (customers unique on
 * customer_id, orders unique on order_id plus (created_at, order_pk), items with (product_id, order_pk);
 * customer and order ids assigned in JavaScript, no conflict handling): the fastest way the rows can get
 * into PostgreSQL. Both write `--batch` orders per transaction; each in a schema of its own, dropped after.
 *   node dist/perf/ingest-postgres.js --dataset ./datasets/small [--orders 200000] [--batch 10000]
 *     [--database-url postgres://…]
 * Rows are parsed and validated before the clock runs. Prints a table and one JSON line; writes
 * perf/results/ingest-postgres.json.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { toOrderRecord } from '../src/storage/order-record.js';
import type { OrderRow } from '../src/storage/order-writer.js';
import { PgCatalog } from '../src/storage/postgres/catalog.js';
import { copyInto, copyLine } from '../src/storage/postgres/copy-text.js';
import { migratePostgres } from '../src/storage/postgres/migrations.js';
import { PgOrderWriter } from '../src/storage/postgres/order-writer.js';
import { tenantDir } from '../tools/gen/write-files.js';
import { ratio, round } from './lib/numbers.js';
import { readOrders, readProducts } from './lib/orders-file.js';
import { machine, writeResult } from './lib/results.js';

const { values } = parseArgs({
  options: {
    dataset: { type: 'string', default: './datasets/small' },
    orders: { type: 'string', default: '200000' },
    batch: { type: 'string', default: '10000' },
    'database-url': {
      type: 'string',
      default: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    },
  },
});
const url = values['database-url']!;
const batch = Number(values.batch);
const dir = tenantDir(values.dataset!, 1);
const orders = await readOrders(dir, Number(values.orders));
const products = await readProducts(dir);

/** A scratch schema and one connection whose search_path is it. */
async function inSchema<T>(work: (client: pg.Client, pool: pg.Pool) => Promise<T>): Promise<T> {
  const name = `orderflow_perf_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${name}`);
  const pool = new pg.Pool({ connectionString: url, options: `-c search_path=${name}`, max: 2 });
  const client = new pg.Client({ connectionString: url, options: `-c search_path=${name}` });
  await client.connect();
  try {
    return await work(client, pool);
  } finally {
    await client.end();
    await pool.end();
    await admin.query(`DROP SCHEMA ${name} CASCADE`);
    await admin.end();
  }
}

interface Run {
  orders_per_sec: number;
  first_segment: number;
  last_segment: number;
  holds: number;
}

/** Writes the orders a batch at a time with `write`, timing the first and last tenth apart. */
async function timeBatches(write: (rows: OrderRow[]) => Promise<void>): Promise<Run> {
  const tenth = Math.max(batch, Math.floor(orders.length / 10));
  const started = performance.now();
  let firstEnd = 0;
  let lastStart = 0;
  for (let i = 0; i < orders.length; i += batch) {
    if (i >= orders.length - tenth && lastStart === 0) lastStart = performance.now();
    await write(orders.slice(i, i + batch));
    if (i + batch >= tenth && firstEnd === 0) firstEnd = performance.now();
  }
  const ended = performance.now();
  const rate = (n: number, ms: number) => Math.round(n / (ms / 1000));
  const first = rate(Math.min(tenth, orders.length), firstEnd - started);
  const last = rate(Math.min(tenth, orders.length), ended - lastStart);
  return {
    orders_per_sec: rate(orders.length, ended - started),
    first_segment: first,
    last_segment: last,
    holds: round(last / first, 2),
  };
}

const PLAIN_SCHEMA = `
  CREATE TABLE customers (customer_pk bigint PRIMARY KEY, customer_id text NOT NULL UNIQUE, name text NOT NULL, email text NOT NULL);
  CREATE TABLE orders (order_pk bigint PRIMARY KEY, order_id text NOT NULL UNIQUE, customer_pk bigint NOT NULL,
    status text NOT NULL, currency text NOT NULL, created_at timestamptz NOT NULL, total_cents bigint NOT NULL);
  CREATE INDEX orders_created ON orders (created_at, order_pk);
  CREATE TABLE order_items (order_pk bigint NOT NULL, line_no integer NOT NULL, product_id bigint NOT NULL,
    quantity integer NOT NULL, unit_price_cents bigint NOT NULL, PRIMARY KEY (order_pk, line_no));
  CREATE INDEX order_items_product ON order_items (product_id, order_pk);`;

/** The limit: COPY of the rows as they are, ids assigned here, new customers only. */
async function plainCopy(): Promise<Run> {
  return inSchema(async (client) => {
    await client.query(PLAIN_SCHEMA);
    const customerPk = new Map<string, number>();
    let orderPk = 0;
    return timeBatches(async (rows) => {
      const customers: string[] = [];
      const orderLines: string[] = [];
      const itemLines: string[] = [];
      for (const o of rows) {
        let c = customerPk.get(o.customer_id);
        if (c === undefined) {
          c = customerPk.size + 1;
          customerPk.set(o.customer_id, c);
          customers.push(copyLine([c, o.customer_id, o.customer_name, o.customer_email]));
        }
        orderPk++;
        orderLines.push(
          copyLine([
            orderPk,
            o.order_id,
            c,
            o.status,
            o.currency,
            new Date(o.created_at).toISOString(),
            o.total_cents,
          ]),
        );
        o.items.forEach((it, k) => {
          itemLines.push(copyLine([orderPk, k + 1, it.product_id, it.quantity, it.unit_price_cents]));
        });
      }
      await client.query('BEGIN');
      await copyInto(client, 'customers', customers);
      await copyInto(client, 'orders', orderLines);
      await copyInto(client, 'order_items', itemLines);
      await client.query('COMMIT');
    });
  });
}

/** Ours: the PostgreSQL writer on the full schema, a tenant of its own. */
async function ours(): Promise<Run> {
  return inSchema(async (client, pool) => {
    await migratePostgres(client);
    const { tenant_id } = await new PgCatalog(pool).createTenant('perf');
    const writer = new PgOrderWriter(client, tenant_id);
    for (let i = 0; i < products.length; i += 10_000)
      await writer.writeProducts(products.slice(i, i + 10_000));
    await client.query('ANALYZE');
    const records = orders.map(toOrderRecord);
    let at = 0;
    return timeBatches(async (rows) => {
      await client.query('BEGIN');
      await writer.write(records.slice(at, at + rows.length));
      await client.query('COMMIT');
      at += rows.length;
    });
  });
}

const plain = await plainCopy();
const mine = await ours();
const result = {
  benchmark: 'ingest-postgres',
  at: new Date().toISOString(),
  env: machine({
    postgres: await (async () => {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      const v = (await c.query<{ server_version: string }>('SHOW server_version')).rows[0]!.server_version;
      await c.end();
      return v;
    })(),
  }),
  orders: orders.length,
  batch,
  plain_copy: plain,
  ours: mine,
  ratio: ratio(mine.orders_per_sec, plain.orders_per_sec),
};
writeResult('ingest-postgres', result);
process.stdout.write(
  [
    `| ${orders.length} orders into PostgreSQL, ${batch} per transaction | orders/s | first / last tenth | holds |`,
    '|---|---|---|---|',
    `| plain COPY, minimal indexes, ids assigned in JS | ${plain.orders_per_sec} | ${plain.first_segment} / ${plain.last_segment} | ${plain.holds} |`,
    `| ours: COPY into staging, INSERT … ON CONFLICT … RETURNING, full schema | ${mine.orders_per_sec} | ${mine.first_segment} / ${mine.last_segment} | ${mine.holds} |`,
    `| ours / plain COPY: ${result.ratio} | | | |`,
    '',
    JSON.stringify(result),
    '',
  ].join('\n'),
);
