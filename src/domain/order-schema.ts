import * as v from 'valibot';
import { IsoDateTime } from './dates.js';
import { text } from './text.js';
import { ORDER_STATUSES } from './vocabulary.js';

export { ORDER_STATUSES, type OrderStatus } from './vocabulary.js';

const MAX_CENTS = 1e13; // 100 billion in major units: beyond any real order, well inside 2^53

/** The bounds an order's fields are checked against (the schema below, and order-fast-path.ts). */
export const ORDER_LIMITS = {
  id: /^[\x21-\x7e]{1,64}$/,
  currency: /^[A-Z]{3}$/,
  customerName: 200,
  customerEmail: 254,
  items: { min: 1, max: 1000 },
  productId: { min: 1, max: Number.MAX_SAFE_INTEGER },
  quantity: { min: 1, max: 1_000_000 },
  cents: { min: 0, max: MAX_CENTS },
} as const;

const L = ORDER_LIMITS;
const int = (range: { min: number; max: number }) =>
  v.pipe(v.number(), v.integer(), v.minValue(range.min), v.maxValue(range.max));
const printableId = v.pipe(v.string(), v.regex(L.id, '1 to 64 printable ASCII characters, no spaces'));

export const OrderItemSchema = v.object({
  product_id: int(L.productId),
  quantity: int(L.quantity),
  unit_price_cents: int(L.cents),
});

export const OrderSchema = v.object({
  order_id: printableId,
  tenant_id: v.optional(v.number()),
  customer_id: printableId,
  customer_name: text(L.customerName),
  customer_email: v.pipe(v.string(), v.trim(), v.maxLength(L.customerEmail), v.email()),
  status: v.picklist(ORDER_STATUSES),
  currency: v.pipe(v.string(), v.regex(L.currency, 'an ISO 4217 code such as USD')),
  created_at: IsoDateTime,
  total_cents: int(L.cents),
  items: v.pipe(v.array(OrderItemSchema), v.minLength(L.items.min), v.maxLength(L.items.max)),
});
export type OrderInput = v.InferInput<typeof OrderSchema>;
export type ValidOrder = v.InferOutput<typeof OrderSchema>;

export const ProductSchema = v.object({
  product_id: int(L.productId),
  tenant_id: v.optional(v.number()),
  sku: text(64),
  name: text(300),
  category: text(100),
  price_cents: int(L.cents),
  currency: v.optional(v.pipe(v.string(), v.regex(L.currency, 'an ISO 4217 code')), 'USD'),
  stock: v.optional(int({ min: 0, max: 2_000_000_000 }), 0),
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
