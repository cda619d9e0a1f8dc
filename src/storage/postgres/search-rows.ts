/**
 * A search's (and a direct export's) rows from PostgreSQL (issue 17), read as keyset pages of a bounded size, so a worker holds one
 * page at a time whatever the limit: each page starts after the previous one's last row. The pages of one
 * read share one snapshot, as SQLite's single statement does: they run in one `REPEATABLE READ READ ONLY`
 * transaction on a connection the read holds until its last page, so an order committed meanwhile never
 * shows up half-way through a page of results (it is on the next cursor page). The snapshot is given up
 * only when PostgreSQL drops the connection mid-read: the read goes on from its last row on a new one.
 */
import type pg from 'pg';
import type { OrderPosition } from '../../domain/cursor.js';
import {
  CREATED_AT,
  ORDER_PK,
  type SearchField,
  type SearchFilters,
  type SearchRow,
} from '../../domain/search.js';
import { lostConnection } from '../storage-fault.js';
import { buildPgSearchSql } from './search-sql.js';

/** Rows per round trip of a search. */
const PAGE_ROWS = 2000;

/** A connection in a read-only transaction whose statements all see one snapshot. */
async function openSnapshot(pool: pg.Pool): Promise<pg.PoolClient> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    return client;
  } catch (error) {
    client.release(error as Error);
    throw error;
  }
}

/**
 * The matches in keyset order, `pageRows` at a time (an export's batches, a search's pages), `limit` rows
 * at most (negative: no limit), down to `floor` (inclusive) when given, all from one snapshot.
 */
export async function* pgKeysetPages(
  pool: pg.Pool,
  tenantId: number,
  filters: SearchFilters,
  fields: readonly SearchField[],
  after: OrderPosition | null,
  limit: number,
  floor: OrderPosition | null,
  pageRows: number,
): AsyncGenerator<SearchRow[]> {
  let position = after;
  let left = limit < 0 ? Number.POSITIVE_INFINITY : limit;
  let client: pg.PoolClient | null = null;
  /** set when the connection failed: it is discarded, not given back */
  let failed: Error | undefined;
  try {
    // a dropped connection (a restart) is replaced as many times as the pool holds connections, since each
    // idle one may have gone with it; the read is safe to run again from its last row
    for (let replaced = 0; left > 0; ) {
      const n = Math.min(pageRows, left);
      const { sql, params } = buildPgSearchSql(tenantId, filters, fields, position, n, floor);
      let rows: unknown[][];
      try {
        client ??= await openSnapshot(pool);
        rows = (await client.query<unknown[]>({ text: sql, values: params, rowMode: 'array' })).rows;
      } catch (error) {
        if (!lostConnection(error) || replaced >= (pool.options.max ?? 1)) {
          failed = error as Error;
          throw error;
        }
        client?.release(error as Error);
        client = null;
        replaced++;
        continue;
      }
      if (rows.length) yield rows;
      if (rows.length < n) return;
      left -= n;
      const last = rows.at(-1)!;
      position = { createdAt: last[CREATED_AT] as number, orderPk: last[ORDER_PK] as number };
    }
  } finally {
    if (client && !failed) {
      // the generator may be closed early (a client went away): the transaction ends either way
      await client.query('COMMIT').catch((error: Error) => {
        failed = error;
      });
    }
    client?.release(failed);
  }
}

/** A search's rows one at a time, read a page of PAGE_ROWS at a time. */
export async function* pgSearchRows(
  db: pg.Pool,
  tenantId: number,
  filters: SearchFilters,
  fields: readonly SearchField[],
  after: OrderPosition | null,
  /** rows at most; negative: no limit */
  limit: number,
  floor: OrderPosition | null = null,
): AsyncGenerator<SearchRow> {
  for await (const rows of pgKeysetPages(db, tenantId, filters, fields, after, limit, floor, PAGE_ROWS))
    yield* rows;
}
