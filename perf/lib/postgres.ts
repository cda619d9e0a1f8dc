/**
 * PostgreSQL in the benchmarks (issue 17): a scratch schema per run, and the outside limit for ingest, a
 * plain `COPY` of the rows into minimal tables.
 */
import pg from 'pg';
import type { OrderRow } from '../../src/storage/order-writer.js';
import { copyInto, copyLine } from '../../src/storage/postgres/copy-text.js';
import { createScratchSchema, type ScratchSchema } from '../../tools/lib/scratch-schema.js';
import { round } from './numbers.js';

/** The benchmarks' `--database-url` option: DATABASE_URL, else the local server's `test` database. */
export const DATABASE_URL_OPTION = {
  type: 'string',
  default: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
} as const;

/** A schema of its own for a run (dropped by `drop`), and a URL whose connections use it. */
export function scratchSchema(url: string): Promise<ScratchSchema> {
  return createScratchSchema(url, 'orderflow_perf');
}

/** A schema of its own for `work` (dropped after), a client and a pool whose search_path is it. */
export async function inSchema<T>(
  url: string,
  work: (client: pg.Client, pool: pg.Pool, schemaUrl: string) => Promise<T>,
): Promise<T> {
  const schema = await scratchSchema(url);
  const pool = new pg.Pool({ connectionString: schema.url, max: 2 });
  const client = new pg.Client({ connectionString: schema.url });
  await client.connect();
  try {
    return await work(client, pool, schema.url);
  } finally {
    await client.end();
    await pool.end();
    await schema.drop();
  }
}

export interface Run {
  orders_per_sec: number;
  first_segment: number;
  last_segment: number;
  holds: number;
}

/** Writes the orders `batch` at a time with `write`, timing the first and last tenth apart. */
export async function timeBatches(
  orders: readonly OrderRow[],
  batch: number,
  write: (rows: OrderRow[]) => Promise<void>,
): Promise<Run> {
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

/**
 * The limit: `COPY` of the rows as they are into minimal tables (customers unique on customer_id, orders
 * unique on order_id plus (created_at, order_pk), items with (product_id, order_pk)), ids assigned here,
 * new customers only, no conflict handling; `batch` orders per transaction.
 */
export function plainCopy(url: string, orders: readonly OrderRow[], batch: number): Promise<Run> {
  return inSchema(url, async (client) => {
    await client.query(PLAIN_SCHEMA);
    const customerPk = new Map<string, number>();
    let orderPk = 0;
    return timeBatches(orders, batch, async (rows) => {
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

export interface StatementTime {
  /** the statement's first words */
  statement: string;
  seconds: number;
  calls: number;
}

/**
 * Times every statement `client` runs from now on, by its first words: where a writer's batches go (a
 * query until its promise settles, a `COPY … FROM STDIN` stream until it finishes). Wraps `client.query`;
 * the returned function gives the totals so far, largest first. Query-submission time only: the server's
 * work, the round trip and the client's parsing of the answer.
 */
export function timeStatements(client: pg.Client): () => StatementTime[] {
  const totals = new Map<string, StatementTime>();
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  const timed = (...args: unknown[]): unknown => {
    const first = args[0] as string | { text?: string } | undefined;
    const text = typeof first === 'string' ? first : (first?.text ?? 'COPY … FROM STDIN');
    const statement = text.replace(/\s+/g, ' ').trim().split(' ').slice(0, 6).join(' ');
    const started = performance.now();
    const done = () => {
      const t = totals.get(statement) ?? { statement, seconds: 0, calls: 0 };
      t.seconds += (performance.now() - started) / 1000;
      t.calls++;
      totals.set(statement, t);
    };
    const result = query(...args) as Partial<PromiseLike<unknown> & NodeJS.WritableStream>;
    if (typeof result.then === 'function') result.then(done, done);
    else result.on?.('finish', done);
    return result;
  };
  (client as unknown as { query: typeof timed }).query = timed;
  return () =>
    [...totals.values()]
      .map((t) => ({ ...t, seconds: round(t.seconds, 2) }))
      .sort((a, b) => b.seconds - a.seconds);
}
