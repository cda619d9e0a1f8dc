import type { Statement } from 'better-sqlite3';
import { DAY, DEFAULT_SALE_STATUSES, DEFAULT_SALES_KEY, HOUR } from '../domain/metrics.js';
import { type AggregateRow, aggregateFor, type SalesAggregate } from '../sketches/sales-aggregate.js';
import { MultiRowInsert } from './multi-row.js';
import type { Db } from './sqlite.js';

/** Days rebuilt per transaction (at most 48 hours): bounds how long one rebuild holds the shard's write lock. */
export const REBUILD_BATCH_DAYS = 2;

/** What a rebuild did: hours rebuilt, order rows read, and hours of its range still dirty after it. */
export interface RebuildResult {
  hours: number;
  rows: number;
  remaining: number;
}

/** Dirty hours grouped by day, the newest day first: recent days are what dashboards ask for first. */
function hoursByDayNewestFirst(hours: readonly number[]): number[][] {
  const byDay = new Map<number, number[]>();
  for (const hour of hours) {
    const day = Math.floor(hour / 24);
    const list = byDay.get(day);
    if (list) list.push(hour);
    else byDay.set(day, [hour]);
  }
  return [...byDay.entries()].sort((a, b) => b[0] - a[0]).map(([, list]) => list);
}

/**
 * The materialised-view simulation. Ingest marks hours dirty (same transaction as the orders); this
 * rebuilds a dirty hour from the orders themselves: per status, exact orders/units/revenue, an HLL of
 * customers and a t-digest of order values, and their exact counterparts (sorted lists of the distinct
 * customers and of the order values); and the per-day, per-product sums and sketches and per-day,
 * per-category sketches of the day it lies in.
 * Rebuilding from source (not adding deltas) makes late orders, status changes and deletes all the
 * same case: mark the hour dirty.
 */
export class RollupBuilder {
  private readonly s: Record<string, Statement>;
  /** a day holds thousands of product rows: written in multi-row statements */
  private readonly insertDayProducts: MultiRowInsert;
  private readonly insertDayProductSketches: MultiRowInsert;

  constructor(private readonly db: Db) {
    this.insertDayProducts = new MultiRowInsert(
      db,
      'INSERT INTO rollup_daily_product (day, status, product_id, orders, units, revenue_cents, order_value_cents)',
      7,
    );
    this.insertDayProductSketches = new MultiRowInsert(
      db,
      'INSERT INTO rollup_daily_product_sketch (day, status, product_id, customers_hll, values_tdigest)',
      5,
    );
    this.s = {
      dirtyIn: db.prepare('SELECT hour FROM rollup_dirty_hours WHERE hour >= ? AND hour < ? ORDER BY hour'),
      countDirty: db.prepare('SELECT count(*) AS n FROM rollup_dirty_hours WHERE hour >= ? AND hour < ?'),
      isDirty: db.prepare('SELECT 1 FROM rollup_dirty_hours WHERE hour = ?'),
      hourOrders: db.prepare(
        `SELECT o.status, o.customer_pk, o.total_cents,
           (SELECT sum(i.quantity) FROM order_items i WHERE i.order_pk = o.order_pk) AS units
         FROM orders o WHERE o.created_at >= ? AND o.created_at < ?`,
      ),
      deleteHour: db.prepare('DELETE FROM rollup_hourly WHERE hour = ?'),
      insertHour: db.prepare(
        `INSERT INTO rollup_hourly (hour, status, orders, units, revenue_cents, customers_hll, values_tdigest,
           customers_exact, values_exact, dirty, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)`,
      ),
      deleteDayProductSketches: db.prepare('DELETE FROM rollup_daily_product_sketch WHERE day = ?'),
      deleteDayProducts: db.prepare('DELETE FROM rollup_daily_product WHERE day = ?'),
      // an order's lines come out together (orders by date, each order's items, each item's product)
      dayLines: db.prepare(
        `SELECT o.order_pk, o.status, o.customer_pk, o.total_cents, p.category, i.product_id, i.quantity,
           i.unit_price_cents
         FROM orders o JOIN order_items i ON i.order_pk = o.order_pk JOIN products p ON p.product_id = i.product_id
         WHERE o.created_at >= ? AND o.created_at < ?`,
      ),
      deleteDayCategory: db.prepare('DELETE FROM rollup_daily_category WHERE day = ?'),
      insertDayCategory: db.prepare(
        `INSERT INTO rollup_daily_category (day, status, category, orders, units, revenue_cents, order_value_cents,
           customers_hll, values_tdigest, customers_exact, values_exact) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      clean: db.prepare('DELETE FROM rollup_dirty_hours WHERE hour = ?'),
      markAll: db.prepare(
        `INSERT OR IGNORE INTO rollup_dirty_hours (hour)
         SELECT DISTINCT created_at / 3600000 FROM orders UNION SELECT hour FROM rollup_hourly`,
      ),
      dayHours: db.prepare(
        `SELECT status, orders, units, revenue_cents, customers_hll, values_tdigest, customers_exact, values_exact
         FROM rollup_hourly WHERE hour >= ? AND hour < ?`,
      ),
      deleteDaily: db.prepare('DELETE FROM rollup_daily WHERE day = ?'),
      insertDaily: db.prepare(
        `INSERT INTO rollup_daily (day, status, orders, units, revenue_cents, customers_hll, values_tdigest,
           customers_exact, values_exact, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
    };
  }

  /** The day level: the day's hourly rows merged, per status and for the default sale statuses together. */
  private rebuildDaily(day: number, now: number): void {
    const groups = new Map<string, SalesAggregate>();
    for (const r of this.s.dayHours!.iterate(day * 24, (day + 1) * 24) as IterableIterator<
      AggregateRow & { status: string }
    >) {
      aggregateFor(groups, r.status).mergeRow(r);
      if (DEFAULT_SALE_STATUSES.includes(r.status)) aggregateFor(groups, DEFAULT_SALES_KEY).mergeRow(r);
    }
    this.s.deleteDaily!.run(day);
    this.store(this.s.insertDaily!, day, groups, now);
  }

  /**
   * The day per status and category and per status and product, from one pass over the day's lines:
   * each order's lines of a category (product) summed, the order counted once; sums and sketches for
   * categories, sums and (in their own table) sketches for products.
   */
  private rebuildDayLines(day: number): void {
    // categories are few: they keep exact sets and a pre-merged row of the default sale statuses, as the
    // day level does; products are many (thousands a day): sums and sketches only
    const categories = new LineGroups<string>({ exactSets: true, defaultStatusesMerged: true });
    const products = new LineGroups<number>({ exactSets: false, defaultStatusesMerged: false });
    type Order = { pk: number; status: string; customer: number; total: number };
    let order = null as Order | null; // assigned in the loop, read by closeOrder
    const closeOrder = () => {
      if (!order) return;
      categories.closeOrder(order.status, order.customer, order.total);
      products.closeOrder(order.status, order.customer, order.total);
    };
    for (const r of this.s.dayLines!.iterate(day * DAY, (day + 1) * DAY) as IterableIterator<{
      order_pk: number;
      status: string;
      customer_pk: number;
      total_cents: number;
      category: string;
      product_id: number;
      quantity: number;
      unit_price_cents: number;
    }>) {
      if (r.order_pk !== order?.pk) {
        closeOrder();
        order = { pk: r.order_pk, status: r.status, customer: r.customer_pk, total: r.total_cents };
      }
      const revenue = r.quantity * r.unit_price_cents;
      categories.addLine(r.category, r.quantity, revenue);
      products.addLine(r.product_id, r.quantity, revenue);
    }
    closeOrder();
    this.s.deleteDayCategory!.run(day);
    for (const [status, category, sales] of categories.entries()) {
      const row = sales.toRow();
      this.s.insertDayCategory!.run(
        day,
        status,
        category,
        row.orders,
        row.units,
        row.revenue_cents,
        sales.orderValue,
        row.customers_hll,
        row.values_tdigest,
        row.customers_exact,
        row.values_exact,
      );
    }
    this.s.deleteDayProductSketches!.run(day);
    this.s.deleteDayProducts!.run(day);
    const sums: unknown[][] = [];
    const sketches: unknown[][] = [];
    for (const [status, product, sales] of products.entries()) {
      sums.push([day, status, product, sales.orders, sales.units, sales.revenue, sales.orderValue]);
      sketches.push([day, status, product, sales.customers.serialize(), sales.values.serialize()]);
    }
    this.insertDayProducts.run(sums);
    this.insertDayProductSketches.run(sketches);
  }

  /** Writes one row per status: key, status, the aggregate's columns, time. */
  private store(insert: Statement, key: number, groups: Map<string, SalesAggregate>, now: number): void {
    for (const [status, g] of groups) {
      const row = g.toRow();
      insert.run(
        key,
        status,
        row.orders,
        row.units,
        row.revenue_cents,
        row.customers_hll,
        row.values_tdigest,
        row.customers_exact,
        row.values_exact,
        now,
      );
    }
  }

  /** Marks every hour holding orders or rollup rows dirty (a full rebuild on the next reads); returns how many. */
  markAllDirty(): number {
    return this.s.markAll!.run().changes;
  }

  /**
   * Rebuilds the dirty hours of whole days around [startMs, endMs), newest day first, REBUILD_BATCH_DAYS
   * per transaction so the write lock is never held long; `locked` wraps each transaction (the worker's
   * write lock). Stops once `budgetMs` is spent or `stop()` says so (a writer waits), leaving the rest dirty
   * for the next caller: `remaining` is how many hours of the range are still dirty.
   */
  rebuildDirty(
    startMs: number,
    endMs: number,
    options: {
      locked?: (rebuild: () => number) => number;
      budgetMs?: number;
      stop?: () => boolean;
    } = {},
  ): RebuildResult {
    const {
      locked = (rebuild) => rebuild(),
      budgetMs = Number.POSITIVE_INFINITY,
      stop = () => false,
    } = options;
    // whole days: the per-day product sums and the day level need every hour of their day fresh
    const from = Math.floor(startMs / DAY) * DAY;
    const to = Math.ceil(endMs / DAY) * DAY;
    const days = hoursByDayNewestFirst(this.dirtyHours(from, to));
    const started = performance.now();
    let rows = 0;
    let hours = 0;
    for (let i = 0; i < days.length; i += REBUILD_BATCH_DAYS) {
      if (i > 0 && (performance.now() - started >= budgetMs || stop())) break;
      const part = days.slice(i, i + REBUILD_BATCH_DAYS).flat();
      rows += locked(() => this.rebuild(part));
      hours += part.length;
    }
    return { hours, rows, remaining: this.countDirty(from, to) };
  }

  dirtyHours(startMs: number, endMs: number): number[] {
    return (
      this.s.dirtyIn!.all(Math.floor(startMs / HOUR), Math.ceil(endMs / HOUR)) as { hour: number }[]
    ).map((r) => r.hour);
  }

  /** Dirty hours in [startMs, endMs): what an answer over that range has not folded in yet. */
  countDirty(startMs: number, endMs: number): number {
    return (this.s.countDirty!.get(Math.floor(startMs / HOUR), Math.ceil(endMs / HOUR)) as { n: number }).n;
  }

  /** Rebuilds the given hours (and the days they touch) in one transaction; returns rows read. */
  rebuild(hours: readonly number[], now = Date.now()): number {
    let rows = 0;
    this.db
      .transaction(() => {
        const days = new Set<number>();
        // another thread may have rebuilt some of them since they were listed: skip those
        for (const hour of hours) {
          if (!this.s.isDirty!.get(hour)) continue;
          const groups = new Map<string, SalesAggregate>();
          for (const r of this.s.hourOrders!.iterate(hour * HOUR, (hour + 1) * HOUR) as IterableIterator<{
            status: string;
            customer_pk: number;
            total_cents: number;
            units: number | null;
          }>) {
            rows++;
            aggregateFor(groups, r.status).addOrder(r.customer_pk, r.total_cents, r.units ?? 0);
          }
          this.s.deleteHour!.run(hour);
          this.store(this.s.insertHour!, hour, groups, now);
          this.s.clean!.run(hour);
          days.add(Math.floor((hour * HOUR) / DAY));
        }
        for (const day of days) {
          this.rebuildDaily(day, now);
          this.rebuildDayLines(day);
        }
      })
      .immediate();
    return rows;
  }
}

/**
 * Order lines grouped per status and key (a category, a product): each order's lines of a key summed,
 * then the order added once to that key's aggregate, under its status and, where asked, under the
 * default sale statuses' merged key too.
 */
class LineGroups<K> {
  private readonly byStatus = new Map<string, Map<K, SalesAggregate>>();
  /** the current order's lines, summed per key */
  private readonly lines = new Map<K, { units: number; revenue: number }>();

  constructor(private readonly options: { exactSets: boolean; defaultStatusesMerged: boolean }) {}

  addLine(key: K, units: number, revenue: number): void {
    const line = this.lines.get(key);
    if (line) {
      line.units += units;
      line.revenue += revenue;
    } else this.lines.set(key, { units, revenue });
  }

  closeOrder(status: string, customerPk: number, totalCents: number): void {
    this.addTo(status, customerPk, totalCents);
    if (this.options.defaultStatusesMerged && DEFAULT_SALE_STATUSES.includes(status))
      this.addTo(DEFAULT_SALES_KEY, customerPk, totalCents);
    this.lines.clear();
  }

  private addTo(status: string, customerPk: number, totalCents: number): void {
    let byKey = this.byStatus.get(status);
    if (!byKey) {
      byKey = new Map();
      this.byStatus.set(status, byKey);
    }
    for (const [key, line] of this.lines)
      aggregateFor(byKey, key, this.options.exactSets).addOrder(
        customerPk,
        totalCents,
        line.units,
        line.revenue,
      );
  }

  *entries(): Generator<[status: string, key: K, sales: SalesAggregate]> {
    for (const [status, byKey] of this.byStatus) for (const [key, sales] of byKey) yield [status, key, sales];
  }
}
