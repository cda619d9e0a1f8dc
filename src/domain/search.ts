import * as v from 'valibot';
import { DateOrDateTime } from './dates.js';
import { NamedError } from './named-error.js';
import { ORDER_STATUSES } from './order-schema.js';
import { wellFormed } from './text.js';

export const SEARCH_FIELDS = [
  'order_id',
  'created_at',
  'status',
  'total_cents',
  'currency',
  'customer_id',
  'customer_name',
  'customer_email',
  'item_count',
  'items',
] as const;
export type SearchField = (typeof SEARCH_FIELDS)[number];

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

/** The in-band end of a stream that failed after its first byte, in the stream's own format. */
export function searchTrailer(format: 'ndjson' | 'json', failure: { code: string; detail: string }): string {
  return format === 'ndjson'
    ? `${JSON.stringify({ _meta: { error: failure } })}\n`
    : `],"meta":${JSON.stringify({ error: failure })}}`;
}

/** A row of the search query: the sort key columns plus the requested fields. */
export type SearchRow = Record<string, unknown> & { _created_at: number; _order_pk: number; items?: string };

/** Encodes one row in the requested field order; items arrive as JSON text and are spliced in as is. */
export function encodeSearchRow(row: SearchRow, fields: readonly SearchField[]): string {
  let out = '{';
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    const value = f === 'created_at' ? new Date(row._created_at).toISOString() : row[f];
    out += `${i ? ',' : ''}"${f}":${f === 'items' ? (value ?? '[]') : JSON.stringify(value)}`;
  }
  return `${out}}`;
}
