import type { Statement } from 'better-sqlite3';
import { type Hash64, hashString } from '../sketches/hash64.js';
import { MultiRowInsert } from './multi-row.js';
import { type OrderRecord, R } from './order-record.js';
import type { Db } from './sqlite.js';

interface Known {
  pk: number;
  /** hash of the stored name and email: a changed one must be written */
  hi: number;
  lo: number;
}

/**
 * Customers remembered per shard by the writer (the one connection that writes them). A hash of name and
 * email stands for the strings, so an entry costs ~100 bytes; past the limit the map starts over.
 */
const CACHE_LIMIT = 20_000;

const scratch: Hash64 = [0, 0];
function hashPerson(r: OrderRecord): Hash64 {
  return hashString(`${r[R.customerName]}\u0000${r[R.customerEmail]}`, scratch);
}

/**
 * Finds or creates the customers of a batch of orders, set-based: one lookup statement for every customer
 * the cache does not know, one multi-row insert for the new ones, an update for each whose name or email
 * changed (the latest line of the batch wins, as if the lines were applied one by one). Per-row lookups and
 * inserts were a third of the writer's time (perf/raw-insert's breakdown). The new customers enter the
 * full-text index by one statement, in the same transaction (so they are searchable once their write has
 * answered): an insert trigger's FTS5 insert per row cost ten times as much (sql/shard/022).
 */
export class CustomerResolver {
  private readonly cache = new Map<string, Known>();
  private readonly findMany: Statement;
  private readonly insertMany: MultiRowInsert;
  private readonly update: Statement;
  private readonly indexMany: Statement;

  constructor(db: Db) {
    this.findMany = db.prepare(
      `SELECT c.customer_pk AS pk, c.customer_id AS id, c.name, c.email
       FROM json_each(?) j JOIN customers c ON c.customer_id = j.value`,
    );
    this.insertMany = new MultiRowInsert(
      db,
      'INSERT INTO customers (customer_id, name, email)',
      3,
      'RETURNING customer_pk AS pk, customer_id AS id',
    );
    this.update = db.prepare(
      'UPDATE customers SET name = ?, email = ? WHERE customer_pk = ? AND erased_at IS NULL',
    );
    this.indexMany = db.prepare(
      `INSERT INTO customers_fts (rowid, name, email)
       SELECT c.customer_pk, c.name, c.email FROM json_each(?) j JOIN customers c ON c.customer_pk = j.value`,
    );
  }

  /** customer_id -> customer_pk for every customer the rows name (call inside the write transaction). */
  resolve(rows: readonly OrderRecord[]): Map<string, number> {
    const latest = new Map<string, OrderRecord>();
    for (const r of rows) latest.set(r[R.customerId], r);
    const pks = new Map<string, number>();
    const unknown: string[] = [];
    for (const [id, r] of latest) {
      const known = this.cache.get(id);
      const [hi, lo] = hashPerson(r);
      if (known && known.hi === hi && known.lo === lo) pks.set(id, known.pk);
      else unknown.push(id);
    }
    if (unknown.length === 0) return pks;
    const stored = new Map(
      (
        this.findMany.all(JSON.stringify(unknown)) as {
          pk: number;
          id: string;
          name: string;
          email: string;
        }[]
      ).map((s) => [s.id, s]),
    );
    const fresh: unknown[][] = [];
    for (const id of unknown) {
      const r = latest.get(id)!;
      const s = stored.get(id);
      if (!s) {
        fresh.push([id, r[R.customerName], r[R.customerEmail]]);
        continue;
      }
      if (s.name !== r[R.customerName] || s.email !== r[R.customerEmail])
        this.update.run(r[R.customerName], r[R.customerEmail], s.pk);
      this.remember(id, s.pk, r);
      pks.set(id, s.pk);
    }
    const inserted = this.insertMany.all<{ pk: number; id: string }>(fresh);
    for (const { pk, id } of inserted) {
      this.remember(id, pk, latest.get(id)!);
      pks.set(id, pk);
    }
    if (inserted.length > 0) this.indexMany.run(JSON.stringify(inserted.map((c) => c.pk)));
    return pks;
  }

  /** After a rollback the cache may name customers that were never committed. */
  forget(): void {
    this.cache.clear();
  }

  private remember(id: string, pk: number, r: OrderRecord): void {
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    const [hi, lo] = hashPerson(r);
    this.cache.set(id, { pk, hi, lo });
  }
}
