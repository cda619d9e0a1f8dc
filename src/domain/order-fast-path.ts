import { EMAIL_REGEX } from 'valibot';
import { isStorableDateTime, parseIsoDate } from './dates.js';
import { ORDER_LIMITS as L, type ValidOrder } from './order-schema.js';
import { isWellFormed } from './text.js';
import { ORDER_STATUSES } from './vocabulary.js';

const STATUSES: ReadonlySet<unknown> = new Set(ORDER_STATUSES);

function intIn(x: unknown, range: { min: number; max: number }): boolean {
  return typeof x === 'number' && Number.isInteger(x) && x >= range.min && x <= range.max;
}

/**
 * The ingest hot path's check of an order: the same rules as `OrderSchema`, written out by hand for the
 * case that matters at volume, a valid order. A JSON-parsed line that passes every check is turned into
 * the schema's output in place (names and emails trimmed, `created_at` as epoch milliseconds) and
 * returned; anything else returns undefined and the schema decides, so every row error still comes from
 * the schema with its field and message. Valibot builds a new object per order and per item and runs a
 * pipeline of actions per field: ~6 µs of the ~11 µs an order costs a parse worker (perf in
 * docs/perf.md). test/unit/order-fast-path.test.ts checks on mutated orders that whatever this accepts,
 * the schema accepts with the same output.
 */
export function fastValidOrder(o: Record<string, unknown>): ValidOrder | undefined {
  const { order_id, customer_id, customer_name, customer_email, status, currency, created_at, items } = o;
  if (typeof order_id !== 'string' || !L.id.test(order_id)) return undefined;
  if (typeof customer_id !== 'string' || !L.id.test(customer_id)) return undefined;
  if (o.tenant_id !== undefined && typeof o.tenant_id !== 'number') return undefined;
  if (typeof customer_name !== 'string' || !isWellFormed(customer_name)) return undefined;
  const name = customer_name.trim();
  if (name.length < 1 || name.length > L.customerName) return undefined;
  if (typeof customer_email !== 'string') return undefined;
  const email = customer_email.trim();
  if (email.length > L.customerEmail || !EMAIL_REGEX.test(email)) return undefined;
  if (!STATUSES.has(status)) return undefined;
  if (typeof currency !== 'string' || !L.currency.test(currency)) return undefined;
  if (typeof created_at !== 'string') return undefined;
  const createdAt = parseIsoDate(created_at);
  if (!isStorableDateTime(createdAt)) return undefined;
  if (!intIn(o.total_cents, L.cents)) return undefined;
  if (!Array.isArray(items) || items.length < L.items.min || items.length > L.items.max) return undefined;
  for (const item of items as unknown[]) {
    if (typeof item !== 'object' || item === null) return undefined;
    const it = item as Record<string, unknown>;
    if (!intIn(it.product_id, L.productId) || !intIn(it.quantity, L.quantity)) return undefined;
    if (!intIn(it.unit_price_cents, L.cents)) return undefined;
  }
  o.customer_name = name;
  o.customer_email = email;
  o.created_at = createdAt;
  return o as unknown as ValidOrder;
}
