import { SEARCH_FIELDS } from '../../src/domain/search.js';
import { buildSearchSql } from '../../src/storage/search-sql.js';
import { shardPath } from '../../src/storage/shards.js';
import { openDatabase } from '../../src/storage/sqlite.js';

export interface PlainRead {
  rows: number;
  /** Rows as objects (better-sqlite3's default) and positionally (`.raw()`), the faster of the two. */
  objects_rows_per_sec: number;
  raw_rows_per_sec: number;
  /** The limit a result is compared with: the faster read. */
  rows_per_sec: number;
}

/**
 * The outside limit for anything that reads a tenant's orders out: one better-sqlite3 statement over
 * the shard (orders with their customer's columns and their items as JSON, newest first: the query a
 * user would write, and the one the service runs), iterated in one pass in this process with nothing
 * done to the rows. Best of `runs`, each mode, after one warm-up pass (the page cache as the service
 * finds it).
 */
export function plainRead(dataDir: string, tenantId: number, limit = -1, runs = 3): PlainRead {
  const db = openDatabase(shardPath(dataDir, tenantId), { readonly: true });
  try {
    const { sql, params } = buildSearchSql({}, SEARCH_FIELDS, null, limit);
    const pass = (raw: boolean) => {
      const t0 = performance.now();
      let rows = 0;
      for (const _ of db
        .prepare(sql)
        .raw(raw)
        .iterate(...params))
        rows++;
      return { rows, rate: rows / ((performance.now() - t0) / 1000) };
    };
    pass(true);
    const best = (raw: boolean) => Math.max(...Array.from({ length: runs }, () => pass(raw).rate));
    const objects = Math.round(best(false));
    const raw = Math.round(best(true));
    return {
      rows: pass(true).rows,
      objects_rows_per_sec: objects,
      raw_rows_per_sec: raw,
      rows_per_sec: Math.max(objects, raw),
    };
  } finally {
    db.close();
  }
}
