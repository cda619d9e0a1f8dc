import { HyperLogLog } from './hll.js';
import { TDigest } from './tdigest.js';

/** A stored pre-aggregate row: exact sums plus the serialised sketches. */
export interface AggregateRow {
  orders: number;
  units: number;
  revenue_cents: number;
  customers_hll: Uint8Array;
  values_tdigest: Uint8Array;
}

/**
 * Orders, units and revenue summed exactly; distinct customers in a HyperLogLog; order values in a
 * t-digest. Filled from orders (when a rollup is rebuilt) or from stored rows (merging rollups).
 */
export class SalesAggregate {
  orders = 0;
  units = 0;
  revenue = 0;
  readonly customers = new HyperLogLog();
  readonly values = new TDigest();

  addOrder(customerPk: number, totalCents: number, units: number): void {
    this.orders++;
    this.units += units;
    this.revenue += totalCents;
    this.customers.addInt(customerPk);
    this.values.add(totalCents);
  }

  mergeRow(row: AggregateRow): void {
    this.orders += row.orders;
    this.units += row.units;
    this.revenue += row.revenue_cents;
    this.customers.merge(HyperLogLog.deserialize(row.customers_hll));
    this.values.merge(TDigest.deserialize(row.values_tdigest));
  }

  toRow(): AggregateRow {
    return {
      orders: this.orders,
      units: this.units,
      revenue_cents: this.revenue,
      customers_hll: this.customers.serialize(),
      values_tdigest: this.values.serialize(),
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
