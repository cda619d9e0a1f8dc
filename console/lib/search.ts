/** The orders page's query: filters and columns as the search endpoint takes them (CONTRACT §2). */
import type { SearchField } from '../../src/domain/vocabulary.js';
import { money, utc } from './format.js';

export { ORDER_STATUSES, SEARCH_FIELDS } from '../../src/domain/vocabulary.js';

/** A column of the orders table: a search field. */
export type OrderField = SearchField;

export const DEFAULT_FIELDS: readonly OrderField[] = [
  'order_id',
  'created_at',
  'status',
  'total_cents',
  'currency',
  'customer_name',
  'customer_email',
  'item_count',
];

export interface SearchFilters {
  /** YYYY-MM-DD, inclusive */
  from?: string;
  /** YYYY-MM-DD, inclusive in the form (the API's `to` is exclusive) */
  to?: string;
  statuses?: string[];
  productIds?: string;
  minTotal?: string;
  maxTotal?: string;
  q?: string;
  customerEmail?: string;
}

/** Major units typed by a person ("12.5") to the API's minor units (1250); empty stays empty. */
export function toCents(text: string | undefined): string | undefined {
  const t = text?.trim();
  if (!t) return undefined;
  if (!/^\d+(\.\d{1,2})?$/.test(t)) throw new RangeError(`"${t}" is not an amount (like 12.50)`);
  return String(Math.round(Number(t) * 100));
}

function nextDay(day: string): string {
  const ms = Date.parse(`${day}T00:00:00Z`);
  if (!Number.isFinite(ms)) throw new RangeError(`"${day}" is not a date`);
  return new Date(ms + 86_400_000).toISOString().slice(0, 10);
}

/** Query parameters of one page; `cursor` continues the previous page with the same filters. */
export function searchParams(
  filters: SearchFilters,
  fields: readonly OrderField[],
  page: { limit: number; cursor?: string | null },
): Record<string, string> {
  const params: Record<string, string> = { format: 'json', limit: String(page.limit) };
  if (fields.length) params.fields = fields.join(',');
  if (filters.from) params.from = filters.from;
  if (filters.to) params.to = nextDay(filters.to);
  if (filters.statuses?.length) params.status = filters.statuses.join(',');
  const products = filters.productIds?.replace(/\s+/g, '');
  if (products) params.product_id = products;
  const min = toCents(filters.minTotal);
  if (min) params.min_total_cents = min;
  const max = toCents(filters.maxTotal);
  if (max) params.max_total_cents = max;
  if (filters.q?.trim()) params.q = filters.q.trim();
  if (filters.customerEmail?.trim()) params.customer_email = filters.customerEmail.trim();
  if (page.cursor) params.cursor = page.cursor;
  return params;
}

export type OrderRow = Partial<Record<OrderField, unknown>> & {
  items?: { product_id: number; quantity: number; unit_price_cents: number }[];
};

/** One cell of the orders table, as a person reads it: money with its currency, times in UTC, items listed. */
export function orderCell(fieldName: OrderField, row: OrderRow): string {
  const value = row[fieldName];
  if (value === undefined || value === null) return '';
  const currency = typeof row.currency === 'string' ? row.currency : 'USD';
  switch (fieldName) {
    case 'total_cents':
      return money(Number(value), currency);
    case 'created_at':
      return utc(String(value));
    case 'items':
      return (row.items ?? [])
        .map((i) => `${i.quantity} × #${i.product_id} @ ${money(i.unit_price_cents, currency)}`)
        .join('; ');
    default:
      return String(value);
  }
}

/** The filters an export takes: the search's own parameters (the export body accepts them as strings). */
export function exportFilters(filters: SearchFilters): Record<string, string> {
  const { format: _format, limit: _limit, ...only } = searchParams(filters, [], { limit: 1 });
  return only;
}
