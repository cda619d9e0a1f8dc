import type { Statement } from 'better-sqlite3';
import { DAY, HOUR } from '../domain/metrics.js';
import { HyperLogLog } from '../sketches/hll.js';
import { TDigest } from '../sketches/tdigest.js';
import type { Db } from './sqlite.js';

/**
 * The materialised-view simulation. Ingest marks hours dirty (same transaction as the orders); this
 * rebuilds a dirty hour from the orders themselves: per status, exact orders/units/revenue, an HLL of
 * customers and a t-digest of order values; and the per-day, per-product sums of the day it lies in.
 * Rebuilding from source (not adding deltas) makes late orders, status changes and deletes all the
 * same case: mark the hour dirty.
 */
export class RollupBuilder {
  private readonly s: Record<string, Statement>;

  constructor(private readonly db: Db) {
    this.s = {
      dirtyIn: db.prepare('SELECT hour FROM rollup_dirty_hours WHERE hour >= ? AND hour < ? ORDER BY hour'),
      dirtyCount: db.prepare('SELECT count(*) AS n FROM rollup_dirty_hours'),
      hourOrders: db.prepare(
        `SELECT o.status, o.customer_pk, o.total_cents,
           (SELECT sum(i.quantity) FROM order_items i WHERE i.order_pk = o.order_pk) AS units
         FROM orders o WHERE o.created_at >= ? AND o.created_at < ?`,
      ),
      deleteHour: db.prepare('DELETE FROM rollup_hourly WHERE hour = ?'),
      insertHour: db.prepare(
        `INSERT INTO rollup_hourly (hour, status, orders, units, revenue_cents, customers_hll, values_tdigest, dirty, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?)`,
      ),
      deleteDay: db.prepare('DELETE FROM rollup_daily_product WHERE day = ?'),
      insertDay: db.prepare(
        `INSERT INTO rollup_daily_product (day, status, product_id, orders, units, revenue_cents, order_value_cents)
         SELECT ?, o.status, i.product_id, count(DISTINCT o.order_pk), sum(i.quantity), sum(i.quantity * i.unit_price_cents),
                sum(o.total_cents)
         FROM orders o JOIN order_items i ON i.order_pk = o.order_pk
         WHERE o.created_at >= ? AND o.created_at < ? GROUP BY o.status, i.product_id`,
      ),
      clean: db.prepare('DELETE FROM rollup_dirty_hours WHERE hour = ?'),
      dayHours: db.prepare(
        'SELECT status, orders, units, revenue_cents, customers_hll, values_tdigest FROM rollup_hourly WHERE hour >= ? AND hour < ?',
      ),
      deleteDaily: db.prepare('DELETE FROM rollup_daily WHERE day = ?'),
      insertDaily: db.prepare(
        `INSERT INTO rollup_daily (day, status, orders, units, revenue_cents, customers_hll, values_tdigest, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
    };
  }

  /** The day level: the day's hourly rows merged, per status. */
  private rebuildDaily(day: number, now: number): void {
    const groups = new Map<
      string,
      { orders: number; units: number; revenue: number; hll: HyperLogLog; digest: TDigest }
    >();
    for (const r of this.s.dayHours!.iterate(day * 24, (day + 1) * 24) as IterableIterator<{
      status: string;
      orders: number;
      units: number;
      revenue_cents: number;
      customers_hll: Uint8Array;
      values_tdigest: Uint8Array;
    }>) {
      let g = groups.get(r.status);
      if (!g) {
        g = { orders: 0, units: 0, revenue: 0, hll: new HyperLogLog(), digest: new TDigest() };
        groups.set(r.status, g);
      }
      g.orders += r.orders;
      g.units += r.units;
      g.revenue += r.revenue_cents;
      g.hll.merge(HyperLogLog.deserialize(r.customers_hll));
      g.digest.merge(TDigest.deserialize(r.values_tdigest));
    }
    this.s.deleteDaily!.run(day);
    for (const [status, g] of groups) {
      this.s.insertDaily!.run(
        day,
        status,
        g.orders,
        g.units,
        g.revenue,
        g.hll.serialize(),
        g.digest.serialize(),
        now,
      );
    }
  }

  dirtyHours(startMs: number, endMs: number): number[] {
    return (
      this.s.dirtyIn!.all(Math.floor(startMs / HOUR), Math.ceil(endMs / HOUR)) as { hour: number }[]
    ).map((r) => r.hour);
  }

  dirtyRemaining(): number {
    return (this.s.dirtyCount!.get() as { n: number }).n;
  }

  /** Rebuilds the given hours (and the days they touch) in one transaction; returns rows read. */
  rebuild(hours: readonly number[], now = Date.now()): number {
    let rows = 0;
    this.db
      .transaction(() => {
        const days = new Set<number>();
        for (const hour of hours) {
          const groups = new Map<
            string,
            { orders: number; units: number; revenue: number; hll: HyperLogLog; digest: TDigest }
          >();
          for (const r of this.s.hourOrders!.iterate(hour * HOUR, (hour + 1) * HOUR) as IterableIterator<{
            status: string;
            customer_pk: number;
            total_cents: number;
            units: number | null;
          }>) {
            rows++;
            let g = groups.get(r.status);
            if (!g) {
              g = { orders: 0, units: 0, revenue: 0, hll: new HyperLogLog(), digest: new TDigest() };
              groups.set(r.status, g);
            }
            g.orders++;
            g.units += r.units ?? 0;
            g.revenue += r.total_cents;
            g.hll.addInt(r.customer_pk);
            g.digest.add(r.total_cents);
          }
          this.s.deleteHour!.run(hour);
          for (const [status, g] of groups) {
            this.s.insertHour!.run(
              hour,
              status,
              g.orders,
              g.units,
              g.revenue,
              g.hll.serialize(),
              g.digest.serialize(),
              now,
            );
          }
          this.s.clean!.run(hour);
          days.add(Math.floor((hour * HOUR) / DAY));
        }
        for (const day of days) {
          this.s.deleteDay!.run(day);
          this.s.insertDay!.run(day, day * DAY, (day + 1) * DAY);
          this.rebuildDaily(day, now);
        }
      })
      .immediate();
    return rows;
  }
}
