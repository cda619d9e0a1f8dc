import type { Database } from 'better-sqlite3';
import type { OrderPosition } from '../domain/cursor.js';
import { rowPosition, type SearchField, type SearchFilters, type SearchRow } from '../domain/search.js';
import { buildSearchSql } from './search-sql.js';
import { statementCache } from './sqlite.js';

/**
 * One page of an export's rows as SQLite steps through them. It is read once (the encoder reads it), so
 * each row can be dropped as soon as it is encoded instead of a whole page outliving the young generation
 * (issue 21, item 8); afterwards `count` and `last` tell what was read.
 */
export class RowPage implements Iterable<SearchRow> {
  count = 0;
  last: SearchRow | null = null;
  private read = false;

  constructor(private readonly rows: IterableIterator<SearchRow>) {}

  *[Symbol.iterator](): Iterator<SearchRow> {
    if (this.read) throw new Error('a page of export rows is read once');
    this.read = true;
    for (const row of this.rows) {
      this.count++;
      this.last = row;
      yield row;
    }
  }

  /** Where the next page starts (after its last row); null for an empty page. */
  positionAfter(): OrderPosition | null {
    return this.last ? rowPosition(this.last) : null;
  }

  /** Ends the statement if the page was not read to its end. */
  close(): void {
    this.rows.return?.();
  }
}

/**
 * The rows of an export, in keyset order, a page at a time: each page is its own short query that starts
 * after the last key of the previous one, so no read transaction stays open for the whole export (the WAL
 * can be checkpointed meanwhile) and a job can stop after any page and resume from its key. A page must be
 * read before the next one is asked for; the last one may be empty.
 */
export function* exportBatches(
  db: Database,
  filters: SearchFilters,
  fields: readonly SearchField[],
  after: OrderPosition | null,
  batchRows: number,
  /** One part of an export: stop after this position (inclusive). */
  floor: OrderPosition | null = null,
): Generator<RowPage> {
  const statement = statementCache(db, (sql) => db.prepare(sql).raw());
  let position = after;
  for (;;) {
    const { sql, params } = buildSearchSql(filters, fields, position, batchRows, floor);
    const page = new RowPage(statement(sql).iterate(...params) as IterableIterator<SearchRow>);
    try {
      yield page;
    } finally {
      page.close();
    }
    const next = page.positionAfter();
    if (page.count < batchRows || next === null) return;
    position = next;
  }
}
