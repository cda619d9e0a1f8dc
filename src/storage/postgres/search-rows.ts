/**
 * A search's (and a direct export's) rows from PostgreSQL (issue 17), read as keyset pages of a bounded size, so a worker holds one
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
import { rerunOnLostConnection } from '../storage-fault.js';
import { buildPgSearchSql } from './search-sql.js';

/** Rows per round trip of a search. */
const PAGE_ROWS = 2000;

/**
 * The matches in keyset order, `pageRows` at a time (an export's batches, a search's pages), `limit` rows
 * at most (negative: no limit), down to `floor` (inclusive) when given.
 */
export async function* pgKeysetPages(
  db: Pick<pg.Pool, 'query' | 'options'>,
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
  while (left > 0) {
    const n = Math.min(pageRows, left);
    const { sql, params } = buildPgSearchSql(tenantId, filters, fields, position, n, floor);
    const page = () => db.query<unknown[]>({ text: sql, values: params, rowMode: 'array' });
    // a read is safe to run again, when the pool handed out connections PostgreSQL had dropped
    const { rows } = await rerunOnLostConnection(db.options.max ?? 1, page);
    if (rows.length) yield rows;
    if (rows.length < n) return;
    left -= n;
    const last = rows.at(-1)!;
    position = { createdAt: last[CREATED_AT] as number, orderPk: last[ORDER_PK] as number };
  }
}

/** A search's rows one at a time, read a page of PAGE_ROWS at a time. */
export async function* pgSearchRows(
  db: Pick<pg.Pool, 'query' | 'options'>,
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
