import type { Database } from 'better-sqlite3';
import type { OrderPosition } from '../domain/cursor.js';
import { rowPosition, type SearchField, type SearchFilters, type SearchRow } from '../domain/search.js';
import { buildSearchSql } from './search-sql.js';
import { statementCache } from './sqlite.js';

/**
 * The rows of an export, in keyset order, a page at a time: each page is its own short query that starts
 * after the last key of the previous one, so no read transaction stays open for the whole export (the WAL
 * can be checkpointed meanwhile) and a job can stop after any page and resume from its key.
 */
export function* exportBatches(
  db: Database,
  filters: SearchFilters,
  fields: readonly SearchField[],
  after: OrderPosition | null,
  batchRows: number,
  /** One part of an export: stop after this position (inclusive). */
  floor: OrderPosition | null = null,
): Generator<SearchRow[]> {
  const statement = statementCache(db, (sql) => db.prepare(sql).raw());
  let position = after;
  for (;;) {
    const { sql, params } = buildSearchSql(filters, fields, position, batchRows, floor);
    const rows = statement(sql).all(...params) as SearchRow[];
    if (rows.length === 0) return;
    yield rows;
    if (rows.length < batchRows) return;
    position = positionAfter(rows);
  }
}

export function positionAfter(rows: readonly SearchRow[]): OrderPosition {
  return rowPosition(rows[rows.length - 1]!);
}
