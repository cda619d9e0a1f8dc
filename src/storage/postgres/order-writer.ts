/**
 * Orders and products into PostgreSQL (issue 17), the same outcomes as the SQLite writers
 * (src/storage/order-writer.ts): duplicates by order_id (across batches and within one), orders naming an
 * unknown product refused with that product, customers normalised with the latest line winning (an erased
 * customer is never written back). A batch goes in with `COPY` into temporary staging tables, then one
 * statement per table, set-wise: `INSERT … SELECT … ON CONFLICT DO NOTHING RETURNING` for orders, their
 * items riding on the returned keys in the same statement, with the days written noted for the sales
 * pre-aggregates (`rollup_pending`).
 */
import type { ClientBase } from 'pg';
import { ITEM_WIDTH, type OrderRecord, R, toOrderRecord, unitsOf } from '../order-record.js';
import type { OrderBatchOutcome, OrderRow, ProductBatchOutcome, ProductRow } from '../order-writer.js';
import { nextWriteSeq } from '../write-seq.js';
import { copyInto, copyLine } from './copy-text.js';
import { inTransaction } from './transaction.js';

/** Staging tables, one pair per connection, emptied by every commit. */
const STAGING = `
  CREATE TEMP TABLE IF NOT EXISTS stage_orders (
    idx integer, order_id text, customer_id text, name text, email text, status text, currency text,
    created_ms bigint, total_cents bigint, item_count integer, units integer, seq bigint
  ) ON COMMIT DELETE ROWS;
  CREATE TEMP TABLE IF NOT EXISTS stage_items (
    idx integer, line_no integer, product_id bigint, quantity integer, unit_price_cents bigint
  ) ON COMMIT DELETE ROWS`;

/** Each staged order naming a product the tenant lacks, with the first such product in line order. */
const UNKNOWN_PRODUCTS = `
  SELECT DISTINCT ON (si.idx) si.idx, si.product_id FROM pg_temp.stage_items si
   WHERE NOT EXISTS (SELECT 1 FROM products p WHERE p.tenant_id = $1 AND p.product_id = si.product_id)
   ORDER BY si.idx, si.line_no`;

/**
 * The batch's customers, the latest line of each winning: within the batch by line, against the stored row
 * by arrival sequence (a batch that committed first may hold later lines); an erased customer keeps its
 * erased row. Rows go in customer_id order, so two writers lock shared customers in the same order.
 */
const UPSERT_CUSTOMERS = `
  INSERT INTO customers (tenant_id, customer_id, name, email, written_seq)
  SELECT DISTINCT ON (customer_id) $1, customer_id, name, email, seq FROM pg_temp.stage_orders
   ORDER BY customer_id, idx DESC
  ON CONFLICT (tenant_id, customer_id) DO UPDATE
     SET name = EXCLUDED.name, email = EXCLUDED.email, written_seq = EXCLUDED.written_seq
   WHERE customers.erased_at IS NULL AND customers.written_seq < EXCLUDED.written_seq`;

/**
 * The first line of each order_id goes in (in batch order, so order_pk follows it), its items with the key
 * it got; answers the batch positions inserted. The others are duplicates.
 */
const INSERT_ORDERS = `
  WITH first AS (
    SELECT DISTINCT ON (order_id) idx, order_id FROM pg_temp.stage_orders ORDER BY order_id, idx
  ), ins AS (
    INSERT INTO orders (tenant_id, order_id, customer_pk, status, currency, created_at, total_cents, item_count, units,
                        ingested_at)
    SELECT $1, s.order_id, c.customer_pk, s.status, s.currency, to_timestamp(s.created_ms / 1000.0),
           s.total_cents, s.item_count, s.units, to_timestamp($2 / 1000.0)
      FROM first f JOIN pg_temp.stage_orders s ON s.idx = f.idx
      -- one index probe per order (LIMIT keeps the subquery from being flattened into a join): without it the
      -- planner, with no statistics on the staging table, read and sorted every customer of the tenant for
      -- each batch, a cost that grew with the tenant
      CROSS JOIN LATERAL (
        SELECT customer_pk FROM customers WHERE tenant_id = $1 AND customer_id = s.customer_id LIMIT 1
      ) c
     ORDER BY s.idx
    ON CONFLICT (tenant_id, order_id) DO NOTHING
    RETURNING order_pk, order_id, created_at
  ), pending AS (
    -- the days and orders this transaction wrote, for the pre-aggregates' refresher (migration 012)
    INSERT INTO rollup_pending (tenant_id, days, order_pks)
    SELECT $1, array_agg(DISTINCT floor(extract(epoch FROM created_at) / 86400)::integer), array_agg(order_pk)
      FROM ins HAVING count(*) > 0
  ), items AS (
    INSERT INTO order_items (tenant_id, order_pk, line_no, product_id, quantity, unit_price_cents)
    SELECT $1, ins.order_pk, si.line_no, si.product_id, si.quantity, si.unit_price_cents
      FROM ins JOIN first f USING (order_id) JOIN pg_temp.stage_items si ON si.idx = f.idx
  )
  SELECT f.idx FROM ins JOIN first f USING (order_id)`;

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
    await copyInto(this.client, 'pg_temp.stage_orders', orderLines(records, seqOf));
    await copyInto(this.client, 'pg_temp.stage_items', itemLines(records));
    const unknown = await this.client.query<{ idx: number; product_id: string }>(UNKNOWN_PRODUCTS, [
      this.tenantId,
    ]);
    const unknownProduct = unknown.rows.map((r) => ({ index: r.idx, productId: Number(r.product_id) }));
    if (unknownProduct.length)
      await this.client.query('DELETE FROM pg_temp.stage_orders WHERE idx = ANY($1::integer[])', [
        unknownProduct.map((u) => u.index),
      ]);
    await this.client.query(UPSERT_CUSTOMERS, [this.tenantId]);
    const inserted = await this.client.query<{ idx: number }>(INSERT_ORDERS, [this.tenantId, now]);
    const written = new Set(inserted.rows.map((r) => r.idx));
    const refused = new Set(unknownProduct.map((u) => u.index));
    const duplicates: number[] = [];
    for (let i = 0; i < records.length; i++) if (!written.has(i) && !refused.has(i)) duplicates.push(i);
    // the staging rows go with the commit; a caller that goes on in the same transaction needs them gone
    await this.client.query('TRUNCATE pg_temp.stage_orders, pg_temp.stage_items');
    return { inserted: written.size, duplicates, unknownProduct };
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

function* orderLines(records: readonly OrderRecord[], seqOf: (index: number) => number): Generator<string> {
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    yield copyLine([
      i,
      r[R.orderId],
      r[R.customerId],
      r[R.customerName],
      r[R.customerEmail],
      r[R.status],
      r[R.currency],
      r[R.createdAt],
      r[R.totalCents],
      r[R.items].length / ITEM_WIDTH,
      unitsOf(r),
      seqOf(i),
    ]);
  }
}

function* itemLines(records: readonly OrderRecord[]): Generator<string> {
  for (let i = 0; i < records.length; i++) {
    const items = records[i]![R.items];
    for (let j = 0, line = 1; j < items.length; j += ITEM_WIDTH, line++)
      yield copyLine([i, line, items[j]!, items[j + 1]!, items[j + 2]!]);
  }
}
