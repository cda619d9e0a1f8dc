/**
 * Order lines a product scan read through SQL in its first pass (orders older than the order journal, or
 * every order with source=orders), kept for its slices' passes as line blocks in pieces under 64 KiB: a
 * slice reads them again as it reads the day blocks, not by running the query again (a walk of every order
 * and line: ~4.5 s for a year of 2M orders, once per slice). They go to a TEMP table of a connection of
 * their own (the scan's connection is busy iterating while lines are spilled): SQLite keeps TEMP tables in
 * a temporary file it deletes itself, read through a small page cache, so what is spilled lives in the
 * OS's file cache, not in the process (120 MB spilled: +1 MB of RSS). It is opened at the first block and
 * closed by `close`.
 */

import Database from 'better-sqlite3';
import {
  CHECKED_STATUS,
  decodeLineBlock,
  LINE_BLOCK_MAX_BYTES,
  type LineBlock,
  LineBlockWriter,
} from '../storage/line-blocks.js';
import type { Db } from '../storage/sqlite.js';

/** Every status code wanted: spilled lines were filtered by status before they were spilled. */
export const EVERY_STATUS = new Uint8Array(256).fill(1);

/** A connection holding nothing but the TEMP table spilled lines go to. */
function openScratch(): Db {
  const db = new Database(':memory:');
  db.pragma(`temp.cache_size = ${-1024 * SCRATCH_CACHE_MIB}`);
  db.exec('CREATE TEMP TABLE lines (seq INTEGER PRIMARY KEY, block BLOB NOT NULL)');
  return db;
}

/** The scratch table's page cache: what a scan reads back is read once per slice, in order. */
const SCRATCH_CACHE_MIB = 0.5;

export class SpilledLines {
  private db: Db | null = null;
  private writer = new LineBlockWriter();
  private order = -1;
  private stored = 0;

  /** A line (its order's lines arriving together), whose order's status was already checked. */
  line(
    orderPk: number,
    customerPk: number,
    total: number,
    product: number,
    quantity: number,
    price: number,
  ): void {
    if (orderPk !== this.order) {
      if (this.writer.bytes >= LINE_BLOCK_MAX_BYTES) this.flush();
      this.writer.startOrder(orderPk, customerPk, total, CHECKED_STATUS);
      this.order = orderPk;
    }
    this.writer.addLine(product, quantity, price);
  }

  /** What is still in memory, stored. */
  flush(): void {
    if (this.writer.orders === 0) return;
    this.db ??= openScratch();
    const insert = this.db.prepare('INSERT INTO temp.lines (block) VALUES (?)');
    for (const piece of this.writer.pieces(LINE_BLOCK_MAX_BYTES)) {
      insert.run(piece.bytes);
      this.stored++;
    }
    this.writer = new LineBlockWriter();
  }

  /** Blocks stored so far. */
  get blocks(): number {
    return this.stored;
  }

  /** The spilled lines again, a block at a time (read with EVERY_STATUS wanted). */
  *read(): Generator<LineBlock> {
    if (!this.db) return;
    const blocks = this.db.prepare('SELECT block FROM temp.lines ORDER BY seq').pluck();
    for (const block of blocks.iterate() as IterableIterator<Uint8Array>) yield decodeLineBlock(block);
  }

  /** Drops what was spilled (SQLite deletes its file with the connection). */
  close(): void {
    this.db?.close();
    this.db = null;
    this.writer = new LineBlockWriter();
    this.stored = 0;
  }
}
