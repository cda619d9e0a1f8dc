import type { Statement } from 'better-sqlite3';
import type { ValidOrder, ValidProduct } from '../domain/order-schema.js';
import { MultiRowInsert } from './multi-row.js';
import type { Db } from './sqlite.js';

/** An order ready to insert: validated, created_at in epoch ms. */
export type OrderRow = Omit<ValidOrder, 'tenant_id'>;

export interface OrderBatchOutcome {
  inserted: number;
  /** Indices (into the batch) whose order_id already existed. */
  duplicates: number[];
  /** Indices that name a product the tenant does not have, with the first such product id. */
  unknownProduct: { index: number; productId: number }[];
}

interface CachedCustomer {
  pk: number;
  name: string;
  email: string;
}

/** Recently seen customers per shard and worker; bounded because every worker keeps one per shard it writes. */
const CUSTOMER_CACHE_LIMIT = Number(process.env.CUSTOMER_CACHE_LIMIT ?? 20_000);

/**
 * The one raw-SQL insert path for orders, used by the ingest workers, the dataset loader and the raw-insert
 * baseline alike. A batch is one transaction; the caller holds the shard's write lock around it.
 */
export class OrderWriter {
  private readonly insertOrders: MultiRowInsert;
  private readonly insertItems: MultiRowInsert;
  private readonly markDirty: MultiRowInsert;
  private readonly missingProducts: Statement;
  private readonly findCustomer: Statement;
  private readonly insertCustomer: Statement;
  private readonly updateCustomer: Statement;
  private readonly customers = new Map<string, CachedCustomer>();

  constructor(private readonly db: Db) {
    this.insertOrders = new MultiRowInsert(
      db,
      'INSERT INTO orders (order_id, customer_pk, status, currency, created_at, total_cents, item_count, ingested_at)',
      8,
      'ON CONFLICT (order_id) DO NOTHING RETURNING order_pk, order_id',
    );
    this.insertItems = new MultiRowInsert(
      db,
      'INSERT INTO order_items (order_pk, line_no, product_id, quantity, unit_price_cents)',
      5,
    );
    this.markDirty = new MultiRowInsert(
      db,
      'INSERT INTO rollup_dirty_hours (hour)',
      1,
      'ON CONFLICT DO NOTHING',
    );
    this.missingProducts = db.prepare(
      'SELECT j.value AS id FROM json_each(?) j LEFT JOIN products p ON p.product_id = j.value WHERE p.product_id IS NULL',
    );
    this.findCustomer = db.prepare(
      'SELECT customer_pk AS pk, name, email FROM customers WHERE customer_id = ?',
    );
    this.insertCustomer = db.prepare(
      'INSERT INTO customers (customer_id, name, email) VALUES (?, ?, ?) RETURNING customer_pk',
    );
    this.updateCustomer = db.prepare(
      'UPDATE customers SET name = ?, email = ? WHERE customer_pk = ? AND erased_at IS NULL',
    );
  }

  writeBatch(rows: readonly OrderRow[], now = Date.now()): OrderBatchOutcome {
    try {
      return this.db.transaction(() => this.writeInTransaction(rows, now)).immediate();
    } catch (error) {
      this.customers.clear(); // the cache may name customers whose insert just rolled back
      throw error;
    }
  }

  private writeInTransaction(rows: readonly OrderRow[], now: number): OrderBatchOutcome {
    const productIds = new Set<number>();
    for (const r of rows) for (const it of r.items) productIds.add(it.product_id);
    const missing = new Set(
      (this.missingProducts.all(JSON.stringify([...productIds])) as { id: number }[]).map((r) => r.id),
    );
    const unknownProduct: OrderBatchOutcome['unknownProduct'] = [];
    const accepted: number[] = [];
    const orderValues: unknown[][] = [];
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i]!;
      const bad = missing.size ? r.items.find((it) => missing.has(it.product_id)) : undefined;
      if (bad) {
        unknownProduct.push({ index: i, productId: bad.product_id });
        continue;
      }
      accepted.push(i);
      const customerPk = this.customerPk(r.customer_id, r.customer_name, r.customer_email);
      orderValues.push([
        r.order_id,
        customerPk,
        r.status,
        r.currency,
        r.created_at,
        r.total_cents,
        r.items.length,
        now,
      ]);
    }
    const insertedRows = this.insertOrders.all<{ order_pk: number; order_id: string }>(orderValues);
    const pkById = new Map(insertedRows.map((r) => [r.order_id, r.order_pk]));
    const itemValues: unknown[][] = [];
    const duplicates: number[] = [];
    const hours = new Set<number>();
    for (const i of accepted) {
      const r = rows[i]!;
      const pk = pkById.get(r.order_id);
      if (pk === undefined) {
        duplicates.push(i);
        continue;
      }
      pkById.delete(r.order_id); // a second row with the same order_id in this batch is a duplicate
      hours.add(Math.floor(r.created_at / 3_600_000));
      r.items.forEach((it, line) => {
        itemValues.push([pk, line + 1, it.product_id, it.quantity, it.unit_price_cents]);
      });
    }
    this.insertItems.run(itemValues);
    // the hours these orders fall in must be re-aggregated before the next metrics read
    this.markDirty.run([...hours].map((h) => [h]));
    return { inserted: insertedRows.length, duplicates, unknownProduct };
  }

  /** Finds or creates the customer; a changed name or email replaces the stored one (latest wins). */
  private customerPk(customerId: string, name: string, email: string): number {
    const cached = this.customers.get(customerId);
    if (cached && cached.name === name && cached.email === email) return cached.pk;
    let found = cached ?? (this.findCustomer.get(customerId) as CachedCustomer | undefined);
    if (!found) {
      const { customer_pk } = this.insertCustomer.get(customerId, name, email) as { customer_pk: number };
      found = { pk: customer_pk, name, email };
    } else if (found.name !== name || found.email !== email) {
      this.updateCustomer.run(name, email, found.pk);
      found = { pk: found.pk, name, email };
    }
    if (this.customers.size >= CUSTOMER_CACHE_LIMIT) this.customers.clear();
    this.customers.set(customerId, found);
    return found.pk;
  }
}

/** Products: new ids are inserted; an existing id is a duplicate and left as it is (stock and price have their own endpoints). */
export class ProductWriter {
  private readonly insert: MultiRowInsert;

  constructor(private readonly db: Db) {
    this.insert = new MultiRowInsert(
      db,
      'INSERT INTO products (product_id, sku, name, category, price_cents, currency, stock, updated_at)',
      8,
      'ON CONFLICT (product_id) DO NOTHING RETURNING product_id',
    );
  }

  writeBatch(
    rows: readonly Omit<ValidProduct, 'tenant_id'>[],
    now = Date.now(),
  ): { inserted: number; duplicates: number[] } {
    return this.db
      .transaction(() => {
        const inserted = new Set(
          this.insert
            .all<{ product_id: number }>(
              rows.map((p) => [
                p.product_id,
                p.sku,
                p.name,
                p.category,
                p.price_cents,
                p.currency,
                p.stock,
                now,
              ]),
            )
            .map((r) => r.product_id),
        );
        const duplicates: number[] = [];
        rows.forEach((p, i) => {
          if (!inserted.delete(p.product_id)) duplicates.push(i);
        });
        return { inserted: rows.length - duplicates.length, duplicates };
      })
      .immediate();
  }
}
