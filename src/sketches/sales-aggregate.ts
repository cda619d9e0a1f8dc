import { ExactOrderSets } from './exact-sets.js';
import { HyperLogLog } from './hll.js';
import { TDigest } from './tdigest.js';

/**
 * A pre-aggregate row as read: exact sums, plus whichever of its stored structures the query selected
 * (the sketches for approx, the exact sets for exact, all four when a day is built from its hours).
 */
export interface AggregateRow {
  orders: number;
  units: number;
  revenue_cents: number;
  /** the orders' totals summed once each, where it differs from revenue (a category's lines) */
  order_value_cents?: number;
  customers_hll?: Uint8Array | null;
  values_tdigest?: Uint8Array | null;
  customers_exact?: Uint8Array | null;
  values_exact?: Uint8Array | null;
}

/** A pre-aggregate row as stored: every structure. */
export type StoredAggregate = Required<{
  [K in Exclude<keyof AggregateRow, 'order_value_cents'>]: NonNullable<AggregateRow[K]>;
}>;

/**
 * Orders, units and revenue summed exactly; distinct customers in a HyperLogLog and order values in a
 * t-digest; and the same two exactly (ExactOrderSets). Filled from orders (when a rollup is rebuilt)
 * or from stored rows (merging rollups).
 */
export class SalesAggregate {
  orders = 0;
  units = 0;
  revenue = 0;
  /** the orders' totals, each once (equals revenue for time buckets; differs for a category's lines) */
  orderValue = 0;
  readonly customers = new HyperLogLog();
  readonly values = new TDigest();
  readonly exact = new ExactOrderSets();

  /** One order; `revenue` is what its counted lines bring (the whole order's total by default). */
  addOrder(customerPk: number, totalCents: number, units: number, revenue = totalCents): void {
    this.orders++;
    this.units += units;
    this.revenue += revenue;
    this.orderValue += totalCents;
    this.customers.addInt(customerPk);
    this.values.add(totalCents);
    this.exact.add(customerPk, totalCents);
  }

  mergeRow(row: AggregateRow): void {
    this.orders += row.orders;
    this.units += row.units;
    this.revenue += row.revenue_cents;
    this.orderValue += row.order_value_cents ?? row.revenue_cents;
    this.mergeStructures(row);
  }

  /** The row's stored structures only (sketches or exact sets), where its sums are counted elsewhere. */
  mergeStructures(row: Omit<AggregateRow, 'orders' | 'units' | 'revenue_cents'>): void {
    if (row.customers_hll) this.customers.merge(HyperLogLog.deserialize(row.customers_hll));
    if (row.values_tdigest) this.values.merge(TDigest.deserialize(row.values_tdigest));
    if (row.customers_exact && row.values_exact)
      this.exact.mergeEncoded(row.customers_exact, row.values_exact);
  }

  toRow(): StoredAggregate {
    return {
      orders: this.orders,
      units: this.units,
      revenue_cents: this.revenue,
      customers_hll: this.customers.serialize(),
      values_tdigest: this.values.serialize(),
      ...this.exact.serialize(),
    };
  }
}

/** Gets or creates the aggregate for a key. */
export function aggregateFor<K>(groups: Map<K, SalesAggregate>, key: K): SalesAggregate {
  let g = groups.get(key);
  if (!g) {
    g = new SalesAggregate();
    groups.set(key, g);
  }
  return g;
}
