/**
 * A search's rows from PostgreSQL (issue 17), read as keyset pages of a bounded size, so a worker holds one
 * page at a time whatever the limit: each page starts after the previous one's last row. Unlike SQLite's
 * single statement, pages are separate snapshots: an order committed meanwhile at an older position may
 * appear in a later page, as it would on the next cursor page.
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
import { storageFault } from '../storage-fault.js';
import { buildPgSearchSql } from './search-sql.js';

/** Rows per round trip. */
const PAGE_ROWS = 2000;

export async function* pgSearchRows(
  db: Pick<pg.Pool, 'query'>,
  tenantId: number,
  filters: SearchFilters,
  fields: readonly SearchField[],
  after: OrderPosition | null,
  /** rows at most; negative: no limit */
  limit: number,
  floor: OrderPosition | null = null,
): AsyncGenerator<SearchRow> {
  let position = after;
  let left = limit < 0 ? Number.POSITIVE_INFINITY : limit;
  while (left > 0) {
    const n = Math.min(PAGE_ROWS, left);
    const { sql, params } = buildPgSearchSql(tenantId, filters, fields, position, n, floor);
    const page = () => db.query<unknown[]>({ text: sql, values: params, rowMode: 'array' });
    // a read is safe to run again: once, when the pool handed out a connection PostgreSQL had dropped
    const { rows } = await page().catch((error: unknown) => {
      if (storageFault(error) !== 'busy') throw error;
      return page();
    });
    yield* rows;
    if (rows.length < n) return;
    left -= n;
    const last = rows.at(-1)!;
    position = { createdAt: last[CREATED_AT] as number, orderPk: last[ORDER_PK] as number };
  }
}
