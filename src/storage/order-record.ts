import type { ValidOrder } from '../domain/order-schema.js';

/**
 * A validated order as the writer takes it: a positional array (no keys), items flattened in threes
 * (product_id, quantity, unit_price_cents). The writer binds these values straight into its statements;
 * a bulk load builds no object per order or per item on the writer's thread.
 */
export type OrderRecord = [
  order_id: string,
  customer_id: string,
  customer_name: string,
  customer_email: string,
  status: ValidOrder['status'],
  currency: string,
  created_at: number,
  total_cents: number,
  items: number[],
];

/** Positions in an OrderRecord. */
export const R = {
  orderId: 0,
  customerId: 1,
  customerName: 2,
  customerEmail: 3,
  status: 4,
  currency: 5,
  createdAt: 6,
  totalCents: 7,
  items: 8,
} as const;

/** Values per item in `items`. */
export const ITEM_WIDTH = 3;

export function toOrderRecord(r: Omit<ValidOrder, 'tenant_id'>): OrderRecord {
  const items: number[] = [];
  for (const it of r.items) items.push(it.product_id, it.quantity, it.unit_price_cents);
  return [
    r.order_id,
    r.customer_id,
    r.customer_name,
    r.customer_email,
    r.status,
    r.currency,
    r.created_at,
    r.total_cents,
    items,
  ];
}

/** An order's units: the sum of its lines' quantities. */
export function unitsOf(record: OrderRecord): number {
  const items = record[R.items];
  let units = 0;
  for (let j = 1; j < items.length; j += ITEM_WIDTH) units += items[j]!;
  return units;
}
