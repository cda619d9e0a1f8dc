/**
 * The search's keyset query on PostgreSQL (issue 17): the same pages as SQLite's
 * (src/storage/search-sql.ts), newest first, ties by order_pk, the tenant's rows only. Times and keys come
 * back as numbers (epoch ms, order_pk) so cursors and the row encoder are the backends' own; items come
 * as the same JSON text SQLite builds, byte for byte.
 */
import type { OrderPosition } from '../../domain/cursor.js';
import type { SearchField, SearchFilters } from '../../domain/search.js';
import { type BuiltQuery, searchColumns } from '../search-sql.js';
import { Where } from '../where.js';
import { numbered } from './placeholders.js';

const ORDER_COLUMNS: Partial<Record<SearchField, string>> = {
  order_id: 'o.order_id',
  status: 'o.status',
  total_cents: 'o.total_cents::float8',
  currency: 'o.currency',
  item_count: 'o.item_count',
  customer_id: 'c.customer_id',
  customer_name: 'c.name',
  customer_email: 'c.email',
};

const ITEMS_SQL = `(SELECT '[' || coalesce(string_agg(format('{"product_id":%s,"quantity":%s,"unit_price_cents":%s}',
  i.product_id, i.quantity, i.unit_price_cents), ',' ORDER BY i.line_no), '') || ']'
  FROM order_items i WHERE i.tenant_id = o.tenant_id AND i.order_pk = o.order_pk)`;

/** Epoch milliseconds as a timestamptz (microseconds absorb the double's rounding). */
const AT = 'to_timestamp(?::float8 / 1000)';
const KEYSET_ORDER = 'ORDER BY o.created_at DESC, o.order_pk DESC';

/**
 * The FTS5 match expression the route builds (`"ada"* "love"*`: quoted prefix words, ANDed) as a tsquery
 * (`ada:* & love:*`), without diacritics as FTS5 reads them. The words hold only letters and digits
 * (src/domain/search.ts, ftsMatch).
 */
export function tsQuery(match: string): string {
  return [...match.matchAll(/"([^"]+)"\*/g)].map((m) => `${withoutDiacritics(m[1]!)}:*`).join(' & ');
}

/** A word with its combining marks dropped, as the stored words are (migration 004): "édith" → "edith". */
function withoutDiacritics(word: string): string {
  return word.normalize('NFD').replace(/[\u0300-\u036f]/g, '');
}

/**
 * The words of a customer's name and email the full-text column is made of (`to_tsvector('simple', …)` of
 * this text; migration 018): combining marks dropped, every run of characters that are neither letters nor
 * digits one space. "Édith Piaf", "e.piaf@example.com" → "Edith Piaf e piaf example com".
 */
export function customerSearchText(name: string, email: string): string {
  return withoutDiacritics(`${name} ${email}`).replace(/[^\p{L}\p{N}]+/gu, ' ');
}

function searchWhere(
  tenantId: number,
  filters: SearchFilters,
  after: OrderPosition | null,
  floor: OrderPosition | null,
) {
  return new Where()
    .when(tenantId, 'o.tenant_id = ?', tenantId)
    .when(filters.from, `o.created_at >= ${AT}`, filters.from)
    .when(filters.to, `o.created_at < ${AT}`, filters.to)
    .when(filters.status, 'o.status = ANY(?::text[])', filters.status)
    .when(filters.minTotal, 'o.total_cents >= ?', filters.minTotal)
    .when(filters.maxTotal, 'o.total_cents <= ?', filters.maxTotal)
    .when(
      filters.productIds,
      'o.order_pk IN (SELECT order_pk FROM order_items WHERE tenant_id = ? AND product_id = ANY(?::bigint[]))',
      tenantId,
      filters.productIds,
    )
    .when(
      filters.match,
      "o.customer_pk IN (SELECT customer_pk FROM customers WHERE tenant_id = ? AND search @@ to_tsquery('simple', ?))",
      tenantId,
      filters.match && tsQuery(filters.match),
    )
    .when(
      filters.email,
      'o.customer_pk IN (SELECT customer_pk FROM customers WHERE tenant_id = ? AND email = ?)',
      tenantId,
      filters.email,
    )
    .when(filters.customerPk, 'o.customer_pk = ?', filters.customerPk)
    .when(after, `(o.created_at, o.order_pk) < (${AT}, ?)`, after?.createdAt, after?.orderPk)
    .when(floor, `(o.created_at, o.order_pk) >= (${AT}, ?)`, floor?.createdAt, floor?.orderPk);
}

/** One keyset page of the search: (created_at ms, order_pk, then each requested field but created_at). */
export function buildPgSearchSql(
  tenantId: number,
  filters: SearchFilters,
  fields: readonly SearchField[],
  after: OrderPosition | null,
  limit: number,
  floor: OrderPosition | null = null,
): BuiltQuery {
  const where = searchWhere(tenantId, filters, after, floor);
  const params = where.params;
  const columns = searchColumns(fields, {
    sortKey: ['(extract(epoch FROM o.created_at) * 1000)::float8', 'o.order_pk::float8'],
    columns: ORDER_COLUMNS,
    items: ITEMS_SQL,
  });
  const customers = fields.some((f) => f.startsWith('customer_'))
    ? ' JOIN customers c ON c.tenant_id = o.tenant_id AND c.customer_pk = o.customer_pk'
    : '';
  params.push(limit);
  return {
    sql: numbered(
      `SELECT ${columns.join(', ')} FROM orders o${customers}${where.sql()} ${KEYSET_ORDER} LIMIT ?`,
    ),
    params,
  };
}

/** The keyset position of the match at `OFFSET` in search order after `after` (a stripe's last row). */
export function buildPgPositionAtSql(
  tenantId: number,
  filters: SearchFilters,
  after: OrderPosition | null,
  offset: number,
): BuiltQuery {
  const where = searchWhere(tenantId, filters, after, null);
  return {
    sql: numbered(
      `SELECT (extract(epoch FROM o.created_at) * 1000)::float8 AS "createdAt", o.order_pk::float8 AS "orderPk"
         FROM orders o${where.sql()} ${KEYSET_ORDER} LIMIT 1 OFFSET ?`,
    ),
    params: [...where.params, offset],
  };
}

/** How many orders match (an export job's size, to cut it into parts of about equal rows). */
export function buildPgCountSql(tenantId: number, filters: SearchFilters): BuiltQuery {
  const where = searchWhere(tenantId, filters, null, null);
  return { sql: numbered(`SELECT count(*)::float8 AS n FROM orders o${where.sql()}`), params: where.params };
}
