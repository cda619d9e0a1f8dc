import type { OrderPosition } from '../domain/cursor.js';
import type { SearchField, SearchFilters } from '../domain/search.js';
import { Where } from './where.js';

export interface BuiltQuery {
  sql: string;
  params: unknown[];
}

const ORDER_COLUMNS: Partial<Record<SearchField, string>> = {
  order_id: 'o.order_id',
  created_at: 'o.created_at',
  status: 'o.status',
  total_cents: 'o.total_cents',
  currency: 'o.currency',
  item_count: 'o.item_count',
  customer_id: 'c.customer_id',
  customer_name: 'c.name AS customer_name',
  customer_email: 'c.email AS customer_email',
};

/** Items as JSON text built inside SQLite (one correlated lookup on the items primary key, in line order). */
const ITEMS_SQL = `(SELECT json_group_array(json_object('product_id', i.product_id, 'quantity', i.quantity,
  'unit_price_cents', i.unit_price_cents)) FROM order_items i WHERE i.order_pk = o.order_pk) AS items`;

/**
 * The keyset query: newest first, ties broken by order_pk, never OFFSET. Only requested columns are
 * read; customers are joined only when a customer column is asked for. Every value is a bound
 * parameter.
 *
 * Two shapes. Date, status and total filters are served by the ordered scan of orders_created, which
 * carries status and total: rows stream out as they are found and the scan stops at the limit.
 * Product, text and email filters find candidate orders through other indexes, so the matches must be
 * sorted: then the page's keys are chosen first (a sort of two integers per match) and only those
 * rows are projected, instead of building items JSON for every match before sorting.
 */
export function buildSearchSql(
  filters: SearchFilters,
  fields: readonly SearchField[],
  after: OrderPosition | null,
  limit: number,
  floor: OrderPosition | null = null,
): BuiltQuery {
  const where = searchWhere(filters, after, floor);
  const params = where.params;
  const columns = searchColumns(fields, {
    sortKey: ['o.created_at AS _created_at', 'o.order_pk AS _order_pk'],
    columns: ORDER_COLUMNS,
    items: ITEMS_SQL,
  });
  const joinCustomers = fields.some((f) => f.startsWith('customer_'));
  const customers = joinCustomers ? ' JOIN customers c ON c.customer_pk = o.customer_pk' : '';
  const filter = where.sql();
  params.push(limit);
  const sql = needsSort(filters)
    ? `SELECT ${columns.join(', ')} FROM (SELECT o.order_pk AS pk FROM orders o${filter} ${KEYSET_ORDER} LIMIT ?) AS page` +
      ` JOIN orders o ON o.order_pk = page.pk${customers} ${KEYSET_ORDER}`
    : `SELECT ${columns.join(', ')} FROM orders o${customers}${filter} ${KEYSET_ORDER} LIMIT ?`;
  return { sql, params };
}

const KEYSET_ORDER = 'ORDER BY o.created_at DESC, o.order_pk DESC';

/** How a backend's SQL reads a search row's parts. */
export interface SearchDialect {
  /** created_at (epoch ms) and order_pk, the row's sort key */
  sortKey: [string, string];
  columns: Partial<Record<SearchField, string>>;
  /** the order's items as JSON text */
  items: string;
}

/**
 * The select list of a search row as the row encoder reads it (src/domain/search.ts, rowLayout): the sort
 * key, then each requested field but created_at, in the order asked.
 */
export function searchColumns(fields: readonly SearchField[], dialect: SearchDialect): string[] {
  const columns: string[] = [...dialect.sortKey];
  for (const f of fields) {
    if (f === 'items') columns.push(dialect.items);
    else if (f !== 'created_at') columns.push(dialect.columns[f]!);
  }
  return columns;
}

/** Whether matches come from another index than the ordered scan and must be sorted (see buildSearchSql). */
export function needsSort(filters: SearchFilters): boolean {
  return filters.productIds !== undefined || filters.match !== undefined || filters.email !== undefined;
}

/** How many orders match (an export's plan sizes its parts with it). */
export function buildCountSql(filters: SearchFilters): BuiltQuery {
  const where = searchWhere(filters, null, null);
  return { sql: `SELECT count(*) AS n FROM orders o${where.sql()}`, params: where.params };
}

/**
 * The keyset position of the match at `OFFSET ?` in export order, counting from after `after` (the last
 * row of an export's part, or of a stream's stripe).
 */
export function buildPositionAtSql(filters: SearchFilters, after: OrderPosition | null = null): BuiltQuery {
  const where = searchWhere(filters, after, null);
  return {
    sql: `SELECT o.created_at AS createdAt, o.order_pk AS orderPk FROM orders o${where.sql()} ${KEYSET_ORDER} LIMIT 1 OFFSET ?`,
    params: where.params,
  };
}

/**
 * The conditions of a search: its filters, rows after the cursor position (older in keyset order) and,
 * for one part of an export, rows down to its floor position (inclusive).
 */
function searchWhere(filters: SearchFilters, after: OrderPosition | null, floor: OrderPosition | null) {
  return (
    new Where()
      .when(filters.from, 'o.created_at >= ?', filters.from)
      .when(filters.to, 'o.created_at < ?', filters.to)
      // unary + keeps the planner on the ordered keyset index, which carries status (no gather-and-sort)
      .whenIn(filters.status, '+o.status')
      .when(filters.minTotal, 'o.total_cents >= ?', filters.minTotal)
      .when(filters.maxTotal, 'o.total_cents <= ?', filters.maxTotal)
      .whenIn(
        filters.productIds,
        'product_id',
        (inList) => `o.order_pk IN (SELECT order_pk FROM order_items WHERE ${inList})`,
      )
      .when(
        filters.match,
        'o.customer_pk IN (SELECT rowid FROM customers_fts WHERE customers_fts MATCH ?)',
        filters.match,
      )
      .when(
        filters.email,
        'o.customer_pk IN (SELECT customer_pk FROM customers WHERE email = ?)',
        filters.email,
      )
      .when(filters.customerPk, 'o.customer_pk = ?', filters.customerPk)
      .when(after, '(o.created_at, o.order_pk) < (?, ?)', after?.createdAt, after?.orderPk)
      .when(floor, '(o.created_at, o.order_pk) >= (?, ?)', floor?.createdAt, floor?.orderPk)
  );
}
