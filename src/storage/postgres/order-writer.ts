/**
 * Orders and products into PostgreSQL (issue 17), the same outcomes as the SQLite writers
 * (src/storage/order-writer.ts): duplicates by order_id (across batches and within one), orders naming an
 * unknown product refused with that product, customers normalised with the latest line winning (an erased
 * customer is never written back). A batch's customers go in by `COPY` into a staging table and one
 * `INSERT … ON CONFLICT DO UPDATE … RETURNING` of their keys; its orders and their items by `COPY` straight
 * into the tables, with keys taken from the sequence first, and the days written noted for the sales
 * pre-aggregates (`rollup_pending`). An order_id stored already fails that COPY, and the batch's orders then
 * go in by `INSERT … ON CONFLICT DO NOTHING` instead (the uniqueness is the table's either way).
 */
import type { ClientBase } from 'pg';
import { ITEM_WIDTH, type OrderRecord, R, toOrderRecord, unitsOf } from '../order-record.js';
import type { OrderBatchOutcome, OrderRow, ProductBatchOutcome, ProductRow } from '../order-writer.js';
import { nextWriteSeq } from '../write-seq.js';
import { copyInto, copyLine } from './copy-text.js';
import { customerSearchText } from './search-sql.js';
import { inTransaction } from './transaction.js';

/**
 * Staging tables, one set per connection, emptied by every commit: the batch's customers (their latest
 * line each, with the words of their full-text column, computed here rather than by PostgreSQL: migration
 * 018), and the orders the fallback path inserts one by one when the direct `COPY` met an order_id
 * already stored.
 */
const STAGING = `
  CREATE TEMP TABLE IF NOT EXISTS stage_customers (
    customer_id text, name text, email text, seq bigint, search_text text
  ) ON COMMIT DELETE ROWS;
  CREATE TEMP TABLE IF NOT EXISTS stage_new_orders (
    order_pk bigint, order_id text, customer_pk bigint, status text, currency text, created_at timestamptz,
    total_cents bigint, item_count integer, units integer
  ) ON COMMIT DELETE ROWS`;

/** The product ids of the batch the tenant lacks (a hash anti-join against the tenant's products). */
const MISSING_PRODUCTS = `
  SELECT u.id FROM unnest($2::bigint[]) AS u(id)
   WHERE NOT EXISTS (SELECT 1 FROM products p WHERE p.tenant_id = $1 AND p.product_id = u.id)`;

/**
 * The batch's customers, the latest line of each (chosen before staging) against the stored row by arrival
 * sequence (a batch that committed first may hold later lines); an erased customer keeps its erased row.
 * Rows go in customer_id order, so two writers lock shared customers in the same order. Answers the keys of
 * the rows it inserted or updated; the others (stored with a later line, or erased) are looked up.
 */
const UPSERT_CUSTOMERS = `
  INSERT INTO customers (tenant_id, customer_id, name, email, written_seq, search)
  SELECT $1, customer_id, name, email, seq, to_tsvector('simple', search_text)
    FROM pg_temp.stage_customers ORDER BY customer_id
  ON CONFLICT (tenant_id, customer_id) DO UPDATE
     SET name = EXCLUDED.name, email = EXCLUDED.email, written_seq = EXCLUDED.written_seq,
         search = EXCLUDED.search
   WHERE customers.erased_at IS NULL AND customers.written_seq < EXCLUDED.written_seq
  RETURNING customer_id, customer_pk`;

const CUSTOMER_KEYS = `
  SELECT customer_id, customer_pk FROM customers WHERE tenant_id = $1 AND customer_id = ANY($2::text[])`;

/** Keys for `$1` new orders, from the sequence every writer of every server takes them from. */
const NEXT_ORDER_PKS = `SELECT nextval('orders_order_pk_seq') AS pk FROM generate_series(1, $1)`;

const ORDER_COLUMNS =
  'tenant_id, order_pk, order_id, customer_pk, status, currency, created_at, total_cents, item_count, units, ingested_at';
const ITEM_COLUMNS = 'tenant_id, order_pk, line_no, product_id, quantity, unit_price_cents';

/** The days and orders a transaction wrote, for the pre-aggregates' refresher (migration 012). */
const NOTE_PENDING =
  'INSERT INTO rollup_pending (tenant_id, days, order_pks) VALUES ($1, $2::integer[], $3::bigint[])';

/**
 * The fallback: the staged orders whose order_id is not stored yet (another writer may have committed some
 * since the batch was prepared), in key order; answers the keys inserted.
 */
const INSERT_NEW_ORDERS = `
  INSERT INTO orders (${ORDER_COLUMNS})
  SELECT $1, order_pk, order_id, customer_pk, status, currency, created_at, total_cents, item_count, units,
         to_timestamp($2::float8 / 1000)
    FROM pg_temp.stage_new_orders ORDER BY order_pk
  ON CONFLICT (tenant_id, order_id) DO NOTHING
  RETURNING order_pk`;

/** SQLSTATE unique_violation: the direct COPY met an order_id stored meanwhile or before. */
const UNIQUE_VIOLATION = '23505';

const INSERT_PRODUCTS = `
  INSERT INTO products (tenant_id, product_id, sku, name, category, price_cents, currency, stock, updated_at)
  SELECT $1, u.* , to_timestamp($9 / 1000.0)
    FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[], $8::bigint[]) AS u
  ON CONFLICT (tenant_id, product_id) DO NOTHING
  RETURNING product_id`;

/** A tenant's orders and products on one connection (the caller holds it for the writer's life). */
export class PgOrderWriter {
  private staged = false;

  constructor(
    private readonly client: ClientBase,
    private readonly tenantId: number,
  ) {}

  /** Rows as objects, in a transaction of their own. */
  writeBatch(rows: readonly OrderRow[], now = Date.now()): Promise<OrderBatchOutcome> {
    return inTransaction(this.client, () => this.write(rows.map(toOrderRecord), now));
  }

  /**
   * Inserts the records inside the caller's transaction. `seqOf` gives a record's arrival sequence
   * (src/storage/write-seq.ts; later lines have higher ones): by default one taken now for the whole batch.
   */
  async write(
    records: readonly OrderRecord[],
    now = Date.now(),
    seqOf: (index: number) => number = constantly(nextWriteSeq(now)),
  ): Promise<OrderBatchOutcome> {
    if (!this.staged) {
      await this.client.query(STAGING);
      this.staged = true;
    }
    const unknownProduct = await this.unknownProducts(records);
    const refused = new Set(unknownProduct.map((u) => u.index));
    const accepted: number[] = [];
    for (let i = 0; i < records.length; i++) if (!refused.has(i)) accepted.push(i);
    const customerPks = await this.customerKeys(records, accepted, seqOf);
    // the first line of each order_id goes in, in batch order (so order_pk follows it); a repeat is a duplicate
    const seen = new Set<string>();
    const fresh: number[] = [];
    const duplicates: number[] = [];
    for (const i of accepted) {
      const id = records[i]![R.orderId];
      if (seen.has(id)) duplicates.push(i);
      else {
        seen.add(id);
        fresh.push(i);
      }
    }
    const batch: NewOrders = {
      records,
      fresh,
      pks: await this.nextOrderPks(fresh.length),
      customerPks,
      now,
    };
    const written = await this.insertOrders(batch);
    let inserted = 0;
    for (let f = 0; f < fresh.length; f++)
      if (written[f]) inserted++;
      else duplicates.push(fresh[f]!);
    duplicates.sort((a, b) => a - b);
    return { inserted, duplicates, unknownProduct };
  }

  /** Each order naming a product the tenant lacks, with the first such product in line order. */
  private async unknownProducts(
    records: readonly OrderRecord[],
  ): Promise<OrderBatchOutcome['unknownProduct']> {
    const ids = new Set<number>();
    for (const r of records) {
      const items = r[R.items];
      for (let j = 0; j < items.length; j += ITEM_WIDTH) ids.add(items[j]!);
    }
    if (ids.size === 0) return [];
    const { rows } = await this.client.query<{ id: string }>(MISSING_PRODUCTS, [this.tenantId, [...ids]]);
    if (rows.length === 0) return [];
    const missing = new Set(rows.map((r) => Number(r.id)));
    const unknown: OrderBatchOutcome['unknownProduct'] = [];
    for (let i = 0; i < records.length; i++) {
      const items = records[i]![R.items];
      for (let j = 0; j < items.length; j += ITEM_WIDTH)
        if (missing.has(items[j]!)) {
          unknown.push({ index: i, productId: items[j]! });
          break;
        }
    }
    return unknown;
  }

  /** customer_id -> customer_pk for the accepted records, each customer written from its latest line. */
  private async customerKeys(
    records: readonly OrderRecord[],
    accepted: readonly number[],
    seqOf: (index: number) => number,
  ): Promise<Map<string, number>> {
    const latest = new Map<string, number>();
    for (const i of accepted) latest.set(records[i]![R.customerId], i);
    const keys = new Map<string, number>();
    if (latest.size === 0) return keys;
    await copyInto(this.client, 'pg_temp.stage_customers', customerLines(records, latest, seqOf));
    const upserted = await this.client.query<CustomerKey>(UPSERT_CUSTOMERS, [this.tenantId]);
    for (const r of upserted.rows) keys.set(r.customer_id, Number(r.customer_pk));
    const others = [...latest.keys()].filter((id) => !keys.has(id));
    if (others.length) {
      const found = await this.client.query<CustomerKey>(CUSTOMER_KEYS, [this.tenantId, others]);
      for (const r of found.rows) keys.set(r.customer_id, Number(r.customer_pk));
    }
    // the staging rows go with the commit; a caller that goes on in the same transaction needs them gone
    await this.client.query('TRUNCATE pg_temp.stage_customers');
    return keys;
  }

  private async nextOrderPks(n: number): Promise<number[]> {
    if (n === 0) return [];
    const { rows } = await this.client.query<{ pk: string }>(NEXT_ORDER_PKS, [n]);
    return rows.map((r) => Number(r.pk)).sort((a, b) => a - b);
  }

  /**
   * The batch's new orders, then their items and the pending note; answers, per fresh order, whether it was
   * written. The orders go by `COPY` straight into the table (PostgreSQL inserts them a page at a time, where
   * `INSERT … SELECT` writes and logs each row on its own), under a savepoint: an order_id already stored
   * (a retried request, or another writer's order committed meanwhile) fails the COPY with a unique
   * violation, and the batch goes in again through `INSERT … ON CONFLICT DO NOTHING`, which skips it.
   */
  private async insertOrders(batch: NewOrders): Promise<boolean[]> {
    const { fresh, pks } = batch;
    if (fresh.length === 0) return [];
    let written: boolean[];
    await this.client.query('SAVEPOINT direct_orders');
    try {
      await copyInto(this.client, `orders (${ORDER_COLUMNS})`, directOrderLines(this.tenantId, batch));
      await this.client.query('RELEASE SAVEPOINT direct_orders');
      written = fresh.map(() => true);
    } catch (error) {
      if ((error as { code?: unknown }).code !== UNIQUE_VIOLATION) throw error;
      await this.client.query('ROLLBACK TO SAVEPOINT direct_orders');
      await this.client.query('RELEASE SAVEPOINT direct_orders');
      await copyInto(this.client, 'pg_temp.stage_new_orders', stagedOrderLines(batch));
      const { rows } = await this.client.query<{ order_pk: string }>(INSERT_NEW_ORDERS, [
        this.tenantId,
        batch.now,
      ]);
      await this.client.query('TRUNCATE pg_temp.stage_new_orders');
      const inserted = new Set(rows.map((r) => Number(r.order_pk)));
      written = pks.map((pk) => inserted.has(pk));
    }
    await copyInto(this.client, `order_items (${ITEM_COLUMNS})`, itemLines(this.tenantId, batch, written));
    const days = new Set<number>();
    const notedPks: number[] = [];
    for (let f = 0; f < fresh.length; f++)
      if (written[f]) {
        days.add(Math.floor(batch.records[fresh[f]!]![R.createdAt] / DAY_MS));
        notedPks.push(pks[f]!);
      }
    if (notedPks.length) await this.client.query(NOTE_PENDING, [this.tenantId, [...days], notedPks]);
    return written;
  }

  /** Products: new ids inserted, an existing id (or a repeat in the batch) a duplicate left as it is. */
  async writeProducts(rows: readonly ProductRow[], now = Date.now()): Promise<ProductBatchOutcome> {
    const column = <K extends keyof ProductRow>(k: K) => rows.map((p) => p[k]);
    const { rows: returned } = await this.client.query<{ product_id: string }>(INSERT_PRODUCTS, [
      this.tenantId,
      column('product_id'),
      column('sku'),
      column('name'),
      column('category'),
      column('price_cents'),
      column('currency'),
      column('stock'),
      now,
    ]);
    const inserted = new Set(returned.map((r) => Number(r.product_id)));
    const duplicates: number[] = [];
    rows.forEach((p, i) => {
      if (!inserted.delete(p.product_id)) duplicates.push(i);
    });
    return { inserted: rows.length - duplicates.length, duplicates };
  }
}

const constantly =
  <T>(value: T) =>
  (): T =>
    value;

interface CustomerKey {
  customer_id: string;
  customer_pk: string;
}

/** A batch's orders to insert: `fresh` positions of `records`, each with its key in `pks` (same order). */
interface NewOrders {
  records: readonly OrderRecord[];
  fresh: readonly number[];
  pks: readonly number[];
  customerPks: ReadonlyMap<string, number>;
  now: number;
}

const DAY_MS = 86_400_000;
const iso = (ms: number) => new Date(ms).toISOString();

function* customerLines(
  records: readonly OrderRecord[],
  latest: ReadonlyMap<string, number>,
  seqOf: (index: number) => number,
): Generator<string> {
  for (const [id, i] of latest) {
    const r = records[i]!;
    const name = r[R.customerName];
    const email = r[R.customerEmail];
    yield copyLine([id, name, email, seqOf(i), customerSearchText(name, email)]);
  }
}

/** The columns of a new order after its tenant, as both insert paths take them (ingested_at apart). */
function orderValues(b: NewOrders, f: number): (string | number)[] {
  const r = b.records[b.fresh[f]!]!;
  return [
    b.pks[f]!,
    r[R.orderId],
    b.customerPks.get(r[R.customerId])!,
    r[R.status],
    r[R.currency],
    iso(r[R.createdAt]),
    r[R.totalCents],
    r[R.items].length / ITEM_WIDTH,
    unitsOf(r),
  ];
}

function* directOrderLines(tenantId: number, b: NewOrders): Generator<string> {
  const ingestedAt = iso(b.now);
  for (let f = 0; f < b.fresh.length; f++) yield copyLine([tenantId, ...orderValues(b, f), ingestedAt]);
}

function* stagedOrderLines(b: NewOrders): Generator<string> {
  for (let f = 0; f < b.fresh.length; f++) yield copyLine(orderValues(b, f));
}

/** The lines of the written orders, numbered from 1 in the order sent. */
function* itemLines(tenantId: number, b: NewOrders, written: readonly boolean[]): Generator<string> {
  for (let f = 0; f < b.fresh.length; f++) {
    if (!written[f]) continue;
    const pk = b.pks[f]!;
    const items = b.records[b.fresh[f]!]![R.items];
    for (let j = 0, line = 1; j < items.length; j += ITEM_WIDTH, line++)
      yield `${tenantId}\t${pk}\t${line}\t${items[j]}\t${items[j + 1]}\t${items[j + 2]}\n`;
  }
}
