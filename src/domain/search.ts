import * as v from 'valibot';
import type { OrderPosition } from './cursor.js';
import { DateOrDateTime } from './dates.js';
import { NamedError } from './named-error.js';
import { wellFormed } from './text.js';
import { ORDER_STATUSES, SEARCH_FIELDS, type SearchField } from './vocabulary.js';

export { SEARCH_FIELDS, type SearchField } from './vocabulary.js';

export const MAX_LIMIT = 100_000;

/** A comma list of 1 to `max` items, each checked by `item`; `one` says what an item must be, `many` names them. */
const commaList = <T>(item: (s: string) => T | undefined, max: number, one: string, many: string) =>
  v.pipe(
    v.string(),
    v.transform((s) =>
      s
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean),
    ),
    v.check((xs) => xs.length >= 1 && xs.length <= max, `1 to ${max} ${many}`),
    v.transform((xs) => xs.map(item)),
    v.check((xs) => xs.every((x) => x !== undefined), `each must be ${one}`),
    v.transform((xs) => [...new Set(xs as T[])]),
  );

const cents = v.pipe(v.string(), v.regex(/^\d{1,15}$/, 'a non-negative integer'), v.transform(Number));

export const SearchQuery = v.object({
  from: v.optional(DateOrDateTime),
  to: v.optional(DateOrDateTime),
  status: v.optional(
    commaList(
      (s) => ((ORDER_STATUSES as readonly string[]).includes(s) ? s : undefined),
      6,
      `one of ${ORDER_STATUSES.join(', ')}`,
      'statuses',
    ),
  ),
  product_id: v.optional(
    commaList(
      (s) => (/^[1-9]\d{0,15}$/.test(s) ? Number(s) : undefined),
      1000,
      'a positive integer',
      'product ids',
    ),
  ),
  min_total_cents: v.optional(cents),
  max_total_cents: v.optional(cents),
  q: v.optional(v.pipe(v.string(), wellFormed, v.maxLength(200))),
  customer_email: v.optional(v.pipe(v.string(), v.trim(), v.maxLength(254))),
  fields: v.optional(v.string()),
  limit: v.optional(
    v.pipe(
      v.string(),
      v.regex(/^\d{1,6}$/, 'an integer'),
      v.transform(Number),
      v.minValue(1),
      v.maxValue(MAX_LIMIT),
    ),
    '1000',
  ),
  cursor: v.optional(v.pipe(v.string(), v.maxLength(512))),
  format: v.optional(v.picklist(['ndjson', 'json']), 'ndjson'),
});
export type SearchQueryOut = v.InferOutput<typeof SearchQuery>;

export interface SearchFilters {
  from?: number;
  to?: number;
  status?: string[];
  productIds?: number[];
  minTotal?: number;
  maxTotal?: number;
  /** FTS5 MATCH expression built from the user's words (never the raw text). */
  match?: string;
  email?: string;
  /** Internal only (never from a request): the orders of one customer, e.g. for GDPR export checks. */
  customerPk?: number;
}

/** One search page as asked: what the route validated, and where the page starts. */
export interface SearchRequest {
  filters: SearchFilters;
  fields: SearchField[];
  after: OrderPosition | null;
  /** Rows at most (a stripe of a long page: rows at most in that stripe, -1 for none). */
  limit: number;
  format: 'ndjson' | 'json';
  /** The filters and fields a cursor is bound to. */
  fingerprint: string;
}

export interface SearchPlan {
  filters: SearchFilters;
  fields: SearchField[];
}

export class UnknownField extends NamedError {}

export function parseFields(raw: string | undefined): SearchField[] {
  if (raw === undefined || raw.trim() === '') return [...SEARCH_FIELDS];
  const out: SearchField[] = [];
  for (const name of raw.split(',').map((s) => s.trim())) {
    if (!(SEARCH_FIELDS as readonly string[]).includes(name)) throw new UnknownField(name);
    if (!out.includes(name as SearchField)) out.push(name as SearchField);
  }
  return out;
}

/**
 * Turns free text into a safe FTS5 query: every word becomes a quoted prefix term ("ada"*), all ANDed.
 * Quotes, operators and column filters in the input are plain characters inside a quoted term, so the
 * user cannot inject FTS syntax.
 */
export function ftsMatch(text: string): string | undefined {
  const words = text.normalize('NFKC').match(/[\p{L}\p{N}]+/gu) ?? [];
  if (words.length === 0) return undefined;
  return words
    .slice(0, 16)
    .map((w) => `"${w.toLowerCase()}"*`)
    .join(' ');
}

export function toPlan(q: SearchQueryOut): SearchPlan {
  return {
    filters: {
      from: q.from,
      to: q.to,
      status: q.status as string[] | undefined,
      productIds: q.product_id as number[] | undefined,
      minTotal: q.min_total_cents,
      maxTotal: q.max_total_cents,
      match: q.q !== undefined ? ftsMatch(q.q) : undefined,
      email: q.customer_email,
    },
    fields: parseFields(q.fields),
  };
}

/** Which filters a query uses, for metrics labels and EXPLAIN docs (bounded cardinality). */
export function filterShape(f: SearchFilters): string {
  const used = [
    f.from !== undefined || f.to !== undefined ? 'date' : '',
    f.status ? 'status' : '',
    f.productIds ? 'product' : '',
    f.minTotal !== undefined || f.maxTotal !== undefined ? 'total' : '',
    f.match ? 'text' : '',
    f.email ? 'email' : '',
  ].filter(Boolean);
  return used.length ? used.join('+') : 'all';
}

/** The end of a search page, in the stream's own format: the meta with the next page's cursor. */
export function searchClosing(
  format: 'ndjson' | 'json',
  meta: { next_cursor: string | null; count: number },
): string {
  return format === 'ndjson' ? `${JSON.stringify({ _meta: meta })}\n` : `],"meta":${JSON.stringify(meta)}}`;
}

/** The in-band end of a stream that failed after its first byte, in the stream's own format. */
export function searchTrailer(format: 'ndjson' | 'json', failure: { code: string; detail: string }): string {
  return format === 'ndjson'
    ? `${JSON.stringify({ _meta: { error: failure } })}\n`
    : `],"meta":${JSON.stringify({ error: failure })}}`;
}

/**
 * A row of the search query as SQLite hands it over positionally (better-sqlite3's `.raw()`, which skips
 * building an object per row): the sort key (created_at, order_pk), then each requested field but
 * created_at, in the order asked. `rowLayout` says where each field is.
 */
export type SearchRow = readonly unknown[];
export const CREATED_AT = 0;
export const ORDER_PK = 1;

/** The column of each requested field in a SearchRow (created_at is read from the sort key). */
export function rowLayout(fields: readonly SearchField[]): number[] {
  let next = 2;
  return fields.map((f) => (f === 'created_at' ? CREATED_AT : next++));
}

/** The sort key of a row, as a cursor or checkpoint keeps it. */
export function rowPosition(row: SearchRow): { createdAt: number; orderPk: number } {
  return { createdAt: row[CREATED_AT] as number, orderPk: row[ORDER_PK] as number };
}

/**
 * Encodes rows as JSON objects in the requested field order; items arrive as JSON text and are spliced in
 * as is. The per-field work is chosen once per query, not per row.
 */
export function searchRowEncoder(fields: readonly SearchField[]): (row: SearchRow) => string {
  const at = rowLayout(fields);
  const parts = fields.map((f, i) => {
    const key = `${i ? ',' : '{'}"${f}":`;
    const column = at[i]!;
    if (f === 'created_at')
      return (row: SearchRow) => `${key}"${new Date(row[column] as number).toISOString()}"`;
    if (f === 'items') return (row: SearchRow) => `${key}${(row[column] as string | null) ?? '[]'}`;
    if (f === 'total_cents' || f === 'item_count') return (row: SearchRow) => `${key}${row[column]}`;
    return (row: SearchRow) => `${key}${JSON.stringify(row[column])}`;
  });
  if (parts.length === 0) return () => '{}';
  return (row) => {
    let out = '';
    for (const part of parts) out += part(row);
    return `${out}}`;
  };
}
