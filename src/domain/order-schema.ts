import * as v from 'valibot';
import { IsoDateTime } from './dates.js';
import { text } from './text.js';
import { ORDER_STATUSES } from './vocabulary.js';

export { ORDER_STATUSES, type OrderStatus } from './vocabulary.js';

const MAX_CENTS = 1e13; // 100 billion in major units: beyond any real order, well inside 2^53

const int = (min: number, max: number) => v.pipe(v.number(), v.integer(), v.minValue(min), v.maxValue(max));

export const OrderItemSchema = v.object({
  product_id: int(1, Number.MAX_SAFE_INTEGER),
  quantity: int(1, 1_000_000),
  unit_price_cents: int(0, MAX_CENTS),
});

export const OrderSchema = v.object({
  order_id: v.pipe(
    v.string(),
    v.regex(/^[\x21-\x7e]{1,64}$/, '1 to 64 printable ASCII characters, no spaces'),
  ),
  tenant_id: v.optional(v.number()),
  customer_id: v.pipe(
    v.string(),
    v.regex(/^[\x21-\x7e]{1,64}$/, '1 to 64 printable ASCII characters, no spaces'),
  ),
  customer_name: text(200),
  customer_email: v.pipe(v.string(), v.trim(), v.maxLength(254), v.email()),
  status: v.picklist(ORDER_STATUSES),
  currency: v.pipe(v.string(), v.regex(/^[A-Z]{3}$/, 'an ISO 4217 code such as USD')),
  created_at: IsoDateTime,
  total_cents: int(0, MAX_CENTS),
  items: v.pipe(v.array(OrderItemSchema), v.minLength(1), v.maxLength(1000)),
});
export type OrderInput = v.InferInput<typeof OrderSchema>;
export type ValidOrder = v.InferOutput<typeof OrderSchema>;

export const ProductSchema = v.object({
  product_id: int(1, Number.MAX_SAFE_INTEGER),
  tenant_id: v.optional(v.number()),
  sku: text(64),
  name: text(300),
  category: text(100),
  price_cents: int(0, MAX_CENTS),
  currency: v.optional(v.pipe(v.string(), v.regex(/^[A-Z]{3}$/, 'an ISO 4217 code')), 'USD'),
  stock: v.optional(int(0, 2_000_000_000), 0),
});
export type ValidProduct = v.InferOutput<typeof ProductSchema>;

export interface RowError {
  line: number;
  order_id?: string;
  product_id?: number;
  code: string;
  field?: string;
  message: string;
}

/** The first failing field of a row, as row-error metadata. */
export function rowErrorFromIssues(
  line: number,
  issues: readonly v.BaseIssue<unknown>[],
  id: Record<string, unknown>,
): RowError {
  const issue = issues[0]!;
  const field = v.getDotPath(issue) ?? undefined;
  const missing = issue.input === undefined && issue.kind === 'schema';
  return {
    line,
    ...id,
    code: missing ? 'missing_field' : 'invalid_field',
    ...(field ? { field } : {}),
    message: `${missing && field ? `${field} is required` : issue.message}${issues.length > 1 ? ` (and ${issues.length - 1} more)` : ''}`,
  };
}
