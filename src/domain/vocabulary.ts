/**
 * The contract's words, in a module with no dependency: the server's schemas validate against them, and the
 * browser console (console/) imports them, so a status, a field or a grouping cannot be spelt two ways.
 */

export const ORDER_STATUSES = ['pending', 'paid', 'shipped', 'delivered', 'cancelled', 'refunded'] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];

/** The columns a search (and an export) can project, in the order the contract lists them. */
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

export const GROUP_BYS = ['day', 'hour', 'week', 'month', 'product', 'category'] as const;
export type GroupBy = (typeof GROUP_BYS)[number];
/** The groupings by time: a bucket is a span of time with its key (timeKey). */
export const TIME_GROUPS = ['day', 'hour', 'week', 'month'] as const;
export type TimeGroup = (typeof TIME_GROUPS)[number];

export const PRECISIONS = ['approx', 'exact'] as const;
export type Precision = (typeof PRECISIONS)[number];
