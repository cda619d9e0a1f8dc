/**
 * Orders into PostgreSQL (issue 17) against the outside limit in the same run: the first N orders of a
 * dataset written by our PostgreSQL writer (src/storage/postgres/order-writer.ts: customers by COPY into
 * staging and one upsert, orders and items by COPY into their tables, the full schema of sql/postgres with
 * its partitions, GIN and keyset indexes), and the same rows by a plain `COPY` into minimal tables (customers unique on
 * customer_id, orders unique on order_id plus (created_at, order_pk), items with (product_id, order_pk);
 * customer and order ids assigned in JavaScript, no conflict handling): the fastest way the rows can get
 * into PostgreSQL. Both write `--batch` orders per transaction; each in a schema of its own, dropped after.
 *   node dist/perf/ingest-postgres.js --dataset ./datasets/small [--orders 200000] [--batch 10000]
 *     [--database-url postgres://…]
 * Rows are parsed and validated before the clock runs. Prints a table, our writer's time per statement
 * (where a batch goes), and one JSON line; writes
 * perf/results/ingest-postgres.json.
 */
import { parseArgs } from 'node:util';
import pg from 'pg';
import { toOrderRecord } from '../src/storage/order-record.js';
import { PgCatalog } from '../src/storage/postgres/catalog.js';
import { migratePostgres } from '../src/storage/postgres/migrations.js';
import { PgOrderWriter } from '../src/storage/postgres/order-writer.js';
import { tenantDir } from '../tools/gen/write-files.js';
import { ratio } from './lib/numbers.js';
import { readOrders, readProducts } from './lib/orders-file.js';
import {
  DATABASE_URL_OPTION,
  inSchema,
  plainCopy,
  type Run,
  type StatementTime,
  timeBatches,
  timeStatements,
} from './lib/postgres.js';
import { machine, writeResult } from './lib/results.js';

const { values } = parseArgs({
  options: {
    dataset: { type: 'string', default: './datasets/small' },
    orders: { type: 'string', default: '200000' },
    batch: { type: 'string', default: '10000' },
    'database-url': DATABASE_URL_OPTION,
  },
});
const url = values['database-url']!;
const batch = Number(values.batch);
const dir = tenantDir(values.dataset!, 1);
const orders = await readOrders(dir, Number(values.orders));
const products = await readProducts(dir);

/** Ours: the PostgreSQL writer on the full schema, a tenant of its own, with each statement's time. */
async function ours(): Promise<Run & { statements: StatementTime[] }> {
  return inSchema(url, async (client, pool) => {
    await migratePostgres(client);
    const { tenant_id } = await new PgCatalog(pool).createTenant('perf');
    const writer = new PgOrderWriter(client, tenant_id);
    for (let i = 0; i < products.length; i += 10_000)
      await writer.writeProducts(products.slice(i, i + 10_000));
    await client.query('ANALYZE');
    const records = orders.map(toOrderRecord);
    let at = 0;
    const statements = timeStatements(client);
    const run = await timeBatches(orders, batch, async (rows) => {
      await client.query('BEGIN');
      await writer.write(records.slice(at, at + rows.length));
      await client.query('COMMIT');
      at += rows.length;
    });
    return { ...run, statements: statements() };
  });
}

const plain = await plainCopy(url, orders, batch);
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
    `| ours: customers upserted from staging, orders and items by COPY, full schema | ${mine.orders_per_sec} | ${mine.first_segment} / ${mine.last_segment} | ${mine.holds} |`,
    `| ours / plain COPY: ${result.ratio} | | | |`,
    '',
    '| our writer: statement (first words) | seconds | calls |',
    '|---|---|---|',
    ...mine.statements.slice(0, 8).map((t) => `| ${t.statement} | ${t.seconds} | ${t.calls} |`),
    '',
    JSON.stringify(result),
    '',
  ].join('\n'),
);
