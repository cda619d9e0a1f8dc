import Database from 'better-sqlite3';
import type { OrderRow } from '../../src/storage/order-writer.js';

/**
 * The outside limit for ingest: what a developer would write with better-sqlite3 and no service around it.
 * Customers unique on customer_id; orders unique on order_id plus a (created_at, id) index; items with a
 * (product_id, order_id) index; prepared single-row statements; WAL, synchronous=NORMAL, SQLite's default
 * checkpointing, a 64 MiB page cache; the caller picks the rows per transaction (10,000 in the issue).
 * No full-text index, no email index, no rollup marking, no product check.
 */
export class PlainInsert {
  private readonly db: Database.Database;
  private readonly batch: (rows: readonly OrderRow[]) => void;

  constructor(path: string, cacheMiB = 64) {
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma(`cache_size = ${-1024 * cacheMiB}`);
    db.exec(`
      CREATE TABLE IF NOT EXISTS customers (
        id INTEGER PRIMARY KEY, customer_id TEXT NOT NULL UNIQUE, name TEXT NOT NULL, email TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS orders (
        id INTEGER PRIMARY KEY, order_id TEXT NOT NULL UNIQUE, customer_id INTEGER NOT NULL,
        status TEXT NOT NULL, currency TEXT NOT NULL, created_at INTEGER NOT NULL, total_cents INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS orders_created ON orders (created_at, id);
      CREATE TABLE IF NOT EXISTS order_items (
        id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL, product_id INTEGER NOT NULL,
        quantity INTEGER NOT NULL, unit_price_cents INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS order_items_product ON order_items (product_id, order_id);`);
    const customer = db.prepare(
      `INSERT INTO customers (customer_id, name, email) VALUES (?, ?, ?)
       ON CONFLICT (customer_id) DO UPDATE SET name = excluded.name, email = excluded.email RETURNING id`,
    );
    const order = db.prepare(
      `INSERT INTO orders (order_id, customer_id, status, currency, created_at, total_cents)
       VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (order_id) DO NOTHING RETURNING id`,
    );
    const item = db.prepare(
      'INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents) VALUES (?, ?, ?, ?)',
    );
    this.batch = db.transaction((rows: readonly OrderRow[]) => {
      for (const o of rows) {
        const c = customer.get(o.customer_id, o.customer_name, o.customer_email) as { id: number };
        const inserted = order.get(o.order_id, c.id, o.status, o.currency, o.created_at, o.total_cents) as
          | { id: number }
          | undefined;
        if (!inserted) continue;
        for (const it of o.items) item.run(inserted.id, it.product_id, it.quantity, it.unit_price_cents);
      }
    });
    this.db = db;
  }

  /** Inserts the rows in transactions of `perTransaction`. */
  insert(rows: readonly OrderRow[], perTransaction: number): void {
    for (let i = 0; i < rows.length; i += perTransaction) this.batch(rows.slice(i, i + perTransaction));
  }

  close(): void {
    this.db.close();
  }
}
