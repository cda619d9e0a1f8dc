import { rollupStatusKeys } from '../domain/sales.js';
import { aggregateFor, type SalesAggregate } from '../sketches/sales-aggregate.js';

/** An order line with what its order brings, in the order the day-level aggregates read them. */
export interface LineRow {
  order_pk: number;
  status: string;
  customer_pk: number;
  total_cents: number;
  category: string;
  product_id: number;
  quantity: number;
  unit_price_cents: number;
}

/**
 * Per-status, per-category aggregates of order lines (each order's lines arriving together): each order's
 * lines of a category summed, the order counted once per category. Categories are few: they keep exact
 * sets and a pre-merged row of the default sale statuses, as the day level does. (Products are answered
 * from the day's line blocks instead: src/storage/line-blocks.ts.)
 */
export function groupLines(lines: Iterable<LineRow>): LineGroups<string> {
  const categories = new LineGroups<string>();
  let order = null as LineRow | null; // the current order's first line
  const closeOrder = () => {
    if (order) categories.closeOrder(order.status, order.customer_pk, order.total_cents);
  };
  for (const r of lines) {
    if (r.order_pk !== order?.order_pk) {
      closeOrder();
      order = r;
    }
    categories.addLine(r.category, r.quantity, r.quantity * r.unit_price_cents);
  }
  closeOrder();
  return categories;
}

/**
 * Order lines grouped per status and key (a category): each order's lines of a key summed, then the order
 * added once to that key's aggregate (exact sets kept), under its status and, for a sale status, under the
 * default sale statuses' merged key too.
 */
export class LineGroups<K> {
  private readonly byStatus = new Map<string, Map<K, SalesAggregate>>();
  /** the current order's lines, summed per key */
  private readonly lines = new Map<K, { units: number; revenue: number }>();

  addLine(key: K, units: number, revenue: number): void {
    const line = this.lines.get(key);
    if (line) {
      line.units += units;
      line.revenue += revenue;
    } else this.lines.set(key, { units, revenue });
  }

  closeOrder(status: string, customerPk: number, totalCents: number): void {
    for (const key of rollupStatusKeys(status)) this.addTo(key, customerPk, totalCents);
    this.lines.clear();
  }

  private addTo(status: string, customerPk: number, totalCents: number): void {
    let byKey = this.byStatus.get(status);
    if (!byKey) {
      byKey = new Map();
      this.byStatus.set(status, byKey);
    }
    for (const [key, line] of this.lines)
      aggregateFor(byKey, key).addOrder(customerPk, totalCents, line.units, line.revenue);
  }

  *entries(): Generator<[status: string, key: K, sales: SalesAggregate]> {
    for (const [status, byKey] of this.byStatus) for (const [key, sales] of byKey) yield [status, key, sales];
  }
}
