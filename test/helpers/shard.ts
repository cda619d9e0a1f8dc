import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as v from 'valibot';
import { afterAll } from 'vitest';
import { OrderSchema, ProductSchema } from '../../src/domain/order-schema.js';
import { OrderWriter, ProductWriter } from '../../src/storage/order-writer.js';
import { prepareShard, shardPath } from '../../src/storage/shards.js';
import { openDatabase } from '../../src/storage/sqlite.js';
import { type Order, product } from './data.js';

/**
 * A migrated shard of its own in a temporary directory (removed after the file's tests), holding products
 * 1 to 8 (two categories), and a writer of orders into it, as the storage unit tests use.
 */
export function testShard(name: string) {
  const dir = mkdtempSync(join(tmpdir(), `orderflow-${name}-`));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  prepareShard(dir, 1);
  const db = openDatabase(shardPath(dir, 1));
  new ProductWriter(db).writeBatch(
    Array.from({ length: 8 }, (_, i) => v.parse(ProductSchema, product(i + 1))),
  );
  const writer = new OrderWriter(db);
  return {
    /** The data directory: the shard is tenant 1's. */
    dir,
    db,
    write: (orders: readonly Order[]) => writer.writeBatch(orders.map((o) => v.parse(OrderSchema, o))),
  };
}

/**
 * Puts a shard's order journal as migration 020 leaves a shard that already had orders: empty, starting
 * past them (they are read from the tables until taken in).
 */
export function forgetJournal(db: { exec(sql: string): unknown }): void {
  db.exec(`DELETE FROM order_journal;
    UPDATE order_journal_start SET from_pk = (SELECT coalesce(max(order_pk), 0) + 1 FROM orders)`);
}
