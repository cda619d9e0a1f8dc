import type { Statement } from 'better-sqlite3';
import type { ValidOrder, ValidProduct } from '../domain/order-schema.js';
import { CustomerResolver } from './customer-resolver.js';
import { MultiRowInsert } from './multi-row.js';
import { newestOrderPk } from './order-counts.js';
import { JournalBlockSeries, OrderJournal } from './order-journal.js';
import { ITEM_WIDTH, type OrderRecord, R, toOrderRecord } from './order-record.js';
import type { Db } from './sqlite.js';

/** An order ready to insert: validated, created_at in epoch ms. */
export type OrderRow = Omit<ValidOrder, 'tenant_id'>;
export type ProductRow = Omit<ValidProduct, 'tenant_id'>;

export interface ProductBatchOutcome {
  inserted: number;
  /** Indices (into the batch) whose product_id already existed. */
  duplicates: number[];
}

export interface OrderBatchOutcome {
  inserted: number;
  /** Indices (into the batch) whose order_id already existed (or came earlier in the batch). */
  duplicates: number[];
  /** Indices that name a product the tenant does not have, with the first such product id. */
  unknownProduct: { index: number; productId: number }[];
}

/** Product ids a writer remembers per shard (~20 bytes each); past it the set starts over. */
const KNOWN_PRODUCTS_LIMIT = 500_000;

/**
 * The one raw-SQL insert path for orders, used by the ingest workers, the dataset loader and the raw-insert
 * baseline alike. `write` runs inside the caller's transaction (the writer lane puts several chunks in one);
 * `writeBatch` is one transaction of its own. The caller holds the shard's write lock around either.
 */
export class OrderWriter {
  private readonly insertOrders: MultiRowInsert;
  private readonly insertItems: MultiRowInsert;
  private readonly missingProducts: Statement;
  private readonly pksFrom: Statement;
  private readonly customers: CustomerResolver;
  private readonly journal: OrderJournal;
  /** product ids known to exist (products are insert-only) */
  private readonly knownProducts = new Set<number>();
  /**
   * A write's items, five numbers each (order_pk, line_no, product_id, quantity, unit_price_cents), kept
   * from write to write: a growing array of a batch's ~30,000 numbers was given fresh memory at each
   * doubling past 128 KB (V8's large objects), a fifth of the writer lane's page faults (perf record).
   */
  private items = new Float64Array(5 * 8192);

  constructor(private readonly db: Db) {
    // order_pk given, not returned: RETURNING cost ~1 µs an order (14% of the orders statement; a scratch
    // benchmark of 200k orders, docs/perf.md) and a Map by order_id to read it back
    this.insertOrders = new MultiRowInsert(
      db,
      'INSERT INTO orders (order_pk, order_id, customer_pk, status, currency, created_at, total_cents, item_count, ingested_at)',
      9,
      'ON CONFLICT (order_id) DO NOTHING',
    );
    this.pksFrom = db.prepare('SELECT order_pk FROM orders WHERE order_pk >= ? ORDER BY order_pk').pluck();
    this.insertItems = new MultiRowInsert(
      db,
      'INSERT INTO order_items (order_pk, line_no, product_id, quantity, unit_price_cents)',
      5,
    );
    this.missingProducts = db.prepare(
      'SELECT j.value AS id FROM json_each(?) j LEFT JOIN products p ON p.product_id = j.value WHERE p.product_id IS NULL',
    );
    this.customers = new CustomerResolver(db);
    this.journal = new OrderJournal(db);
  }

  /** Rows as objects (the loader's tests, the inline path), in a transaction of their own. */
  writeBatch(rows: readonly OrderRow[], now = Date.now()): OrderBatchOutcome {
    const records = rows.map(toOrderRecord);
    try {
      return this.db.transaction(() => this.write(records, now)).immediate();
    } catch (error) {
      this.rolledBack();
      throw error;
    }
  }

  /**
   * The product ids the records name that the shard does not have. Products are never deleted, so an id
   * found once is remembered: after the first chunks of a load, the check is a Set lookup per item.
   */
  private missingOf(records: readonly OrderRecord[]): Set<number> {
    const unknown = new Set<number>();
    for (const r of records) {
      const items = r[R.items];
      for (let j = 0; j < items.length; j += ITEM_WIDTH)
        if (!this.knownProducts.has(items[j]!)) unknown.add(items[j]!);
    }
    if (unknown.size === 0) return unknown;
    const missing = new Set(
      (this.missingProducts.all(JSON.stringify([...unknown])) as { id: number }[]).map((r) => r.id),
    );
    if (this.knownProducts.size + unknown.size > KNOWN_PRODUCTS_LIMIT) this.knownProducts.clear();
    for (const id of unknown) if (!missing.has(id)) this.knownProducts.add(id);
    return missing;
  }

  /** A transaction holding `write`s was rolled back: the caches may name rows that were never committed. */
  rolledBack(): void {
    this.customers.forget();
    this.knownProducts.clear();
  }

  /** Inserts the records inside the caller's transaction (whoever rolls it back calls `rolledBack`). */
  write(records: readonly OrderRecord[], now = Date.now()): OrderBatchOutcome {
    const missing = this.missingOf(records);
    const unknownProduct: OrderBatchOutcome['unknownProduct'] = [];
    const accepted: OrderRecord[] = [];
    const acceptedAt: number[] = [];
    for (let i = 0; i < records.length; i++) {
      const bad = missing.size ? firstMissing(records[i]![R.items], missing) : undefined;
      if (bad !== undefined) unknownProduct.push({ index: i, productId: bad });
      else {
        accepted.push(records[i]!);
        acceptedAt.push(i);
      }
    }
    const customerPks = this.customers.resolve(accepted);
    // the accepted orders take the order_pks after the newest, in their order (SQLite's own choice for an
    // INTEGER PRIMARY KEY); one whose order_id exists (or came earlier in the batch) is skipped, its order_pk
    // left unused: a gap (order_pk orders and breaks ties; newestOrderPk, "about how many orders", stays an
    // estimate: duplicates mixed with new orders in one batch are rare, a retried chunk is all duplicates)
    const firstPk = newestOrderPk(this.db) + 1;
    const written = this.insertOrders.runFilled(accepted.length, (i, p, at) => {
      const r = accepted[i]!;
      p[at] = firstPk + i;
      p[at + 1] = r[R.orderId];
      p[at + 2] = customerPks.get(r[R.customerId]);
      p[at + 3] = r[R.status];
      p[at + 4] = r[R.currency];
      p[at + 5] = r[R.createdAt];
      p[at + 6] = r[R.totalCents];
      p[at + 7] = r[R.items].length / ITEM_WIDTH;
      p[at + 8] = now;
    });
    // every one written (the common case), or the ones whose order_pk is there
    const there = written === accepted.length ? null : new Set(this.pksFrom.all(firstPk) as number[]);
    const isWritten = (i: number) => there === null || there.has(firstPk + i);
    const items = this.itemsFor(accepted);
    let itemValues = 0;
    const duplicates: number[] = [];
    const journalled = new JournalBlockSeries();
    for (let i = 0; i < accepted.length; i++) {
      const r = accepted[i]!;
      if (!isWritten(i)) {
        duplicates.push(acceptedAt[i]!);
        continue;
      }
      const pk = firstPk + i;
      journalled.order(pk, customerPks.get(r[R.customerId])!, r[R.totalCents], r[R.status], r[R.createdAt]);
      const its = r[R.items];
      for (let j = 0, line = 1; j < its.length; j += ITEM_WIDTH, line++) {
        items[itemValues++] = pk;
        items[itemValues++] = line;
        items[itemValues++] = its[j]!;
        items[itemValues++] = its[j + 1]!;
        items[itemValues++] = its[j + 2]!;
        journalled.line(its[j]!, its[j + 1]!, its[j + 2]!);
      }
    }
    // In product order: the (product_id, order_pk) index, the most expensive one to keep (perf/raw-insert's
    // breakdown), then takes its entries in key order, page after page, instead of at random. The items'
    // own key (order_pk, line_no) does not mind: every new order_pk lies past the existing ones.
    const order = byProduct(items, itemValues / 5);
    this.insertItems.runFilled(itemValues / 5, (i, p, at) => {
      const from = order[i]! * 5;
      for (let k = 0; k < 5; k++) p[at + k] = items[from + k];
    });
    // the same orders in the journal, in this transaction: the exact scans read them from there
    this.journal.append(journalled);
    // nothing to mark for the metrics: orders past the rollups' watermark are pending by definition
    return { inserted: written, duplicates, unknownProduct };
  }

  /** The items scratch, large enough for every line of `orders`. */
  private itemsFor(orders: readonly OrderRecord[]): Float64Array {
    let values = 0;
    for (const r of orders) values += (r[R.items].length / ITEM_WIDTH) * 5;
    if (values > this.items.length) this.items = new Float64Array(Math.max(values, this.items.length * 2));
    return this.items;
  }
}

/** Positions of the first `n` items (five values each) ordered by (product_id, order_pk). */
function byProduct(items: Float64Array, n: number): Uint32Array {
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => items[a * 5 + 2]! - items[b * 5 + 2]! || items[a * 5]! - items[b * 5]!);
  return order;
}

function firstMissing(items: readonly number[], missing: ReadonlySet<number>): number | undefined {
  for (let j = 0; j < items.length; j += ITEM_WIDTH) if (missing.has(items[j]!)) return items[j];
  return undefined;
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

  writeBatch(rows: readonly ProductRow[], now = Date.now()): ProductBatchOutcome {
    return this.db.transaction(() => this.write(rows, now)).immediate();
  }

  /** Inserts the rows inside the caller's transaction. */
  write(rows: readonly ProductRow[], now = Date.now()): ProductBatchOutcome {
    const inserted = new Set(
      this.insert
        .all<{ product_id: number }>(
          rows.map((p) => [p.product_id, p.sku, p.name, p.category, p.price_cents, p.currency, p.stock, now]),
        )
        .map((r) => r.product_id),
    );
    const duplicates: number[] = [];
    rows.forEach((p, i) => {
      if (!inserted.delete(p.product_id)) duplicates.push(i);
    });
    return { inserted: rows.length - duplicates.length, duplicates };
  }
}
