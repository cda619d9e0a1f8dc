import {
  avg,
  type Bucket,
  DAY,
  DEFAULT_SALES_KEY,
  errorBounds,
  HOUR,
  isDefaultSale,
  isTimeGroup,
  nearestRank,
  type SalesRequest,
  type SalesResult,
  type TimeGroup,
  timeKey,
} from '../src/domain/metrics.js';
import type { StreamTaskBase, TaskBase } from '../src/pool/protocol.js';
import { HyperLogLog } from '../src/sketches/hll.js';
import { type AggregateRow, aggregateFor, SalesAggregate } from '../src/sketches/sales-aggregate.js';
import {
  categoryRollupSql,
  exactGroupScanSql,
  exactTimeScanSql,
  ordersInRangeSql,
  PRODUCT_SORT_MAX_ORDERS,
  productLinesSql,
  productRankSql,
  productSketchesOfDaySql,
  rollupSql,
} from '../src/storage/metrics-sql.js';
import type { Db } from '../src/storage/sqlite.js';
import { type CatchUpResult, catchUpRollups } from '../src/worker/rollup-catch-up.js';
import { defineStreamTask, defineTask, type TaskContext } from '../src/worker/worker-context.js';

export type SalesInput = TaskBase &
  SalesRequest & {
    /** longest an approx answer spends catching up dirty hours before it answers without the rest */
    refreshBudgetMs: number;
  };

/** Buckets, how many rows were read for them, and which path read them. */
type Answer = { data: Bucket[]; rows: number; method: string };

/**
 * Catches up what a request needs: the pending orders folded in, then the range's dirty hours rebuilt for
 * at most `refreshBudgetMs` (exact answers: all of them). The upkeep thread does the same in the background
 * after writes (refreshRollups), so a read usually finds little or nothing left.
 */
function refresh(ctx: TaskContext, input: SalesInput): CatchUpResult {
  const done = catchUpRollups(ctx, input.tenantId, input, {
    budgetMs: input.precision === 'exact' ? Number.POSITIVE_INFINITY : input.refreshBudgetMs,
    yieldToWriters: false,
    query: 'rollup_rebuild',
  });
  ctx.obs.record('rollup_rebuilt_hours_total', { by: 'read' }, done.hours);
  return done;
}

/**
 * meta.freshness of an answer read from the rollups, after the catch-up that preceded it. An approx answer
 * may leave hours out when catching up would take longer than its budget: it says how many
 * (`stale_hours_in_range`, `complete: false`); those hours answer as they were before their latest writes.
 */
function freshnessAfter(f: CatchUpResult): Record<string, unknown> {
  return {
    policy:
      'new orders folded in as deltas (a bulk load: its hours rebuilt) in the background after writes, and on read what is left',
    folded_in_orders: f.pending_orders,
    rebuilt_hours: f.hours,
    rebuild_rows: f.rows,
    rebuild_ms: f.ms,
    as_of: new Date().toISOString(),
    stale_hours_in_range: f.remaining,
    complete: f.remaining === 0,
  };
}

/** An order item line with what its order brings: what the product and category paths read. */
interface ItemLine {
  order_pk: number;
  customer_pk: number;
  total_cents: number;
  quantity: number;
  unit_price_cents: number;
}

/** Accumulates one group at a time from rows sorted by group: exact distinct orders and customers. */
class GroupAccumulator {
  private key: string | number | null = null;
  private orders = new Set<number>();
  private customers = new Set<number>();
  private values: number[] = [];
  private units = 0;
  private revenue = 0;
  private orderValue = 0;
  readonly out: Bucket[] = [];

  add(
    key: string | number,
    orderPk: number,
    customerPk: number,
    orderTotal: number,
    units: number,
    revenue: number,
  ): void {
    if (key !== this.key) {
      this.close();
      this.key = key;
    }
    this.units += units;
    this.revenue += revenue;
    if (!this.orders.has(orderPk)) {
      this.orders.add(orderPk);
      this.values.push(orderTotal);
      this.orderValue += orderTotal;
    }
    this.customers.add(customerPk);
  }

  /** An order line counted for a group: its units and revenue, its order once. */
  addLine(key: string | number, line: ItemLine): void {
    this.add(
      key,
      line.order_pk,
      line.customer_pk,
      line.total_cents,
      line.quantity,
      line.quantity * line.unit_price_cents,
    );
  }

  close(): void {
    if (this.key === null) return;
    const sorted = Float64Array.from(this.values).sort();
    this.out.push({
      key: this.key,
      orders: this.orders.size,
      units: this.units,
      revenue_cents: this.revenue,
      unique_customers: this.customers.size,
      avg_order_value_cents: avg(this.orderValue, this.orders.size),
      p50_order_value_cents: nearestRank(sorted, 50),
      p95_order_value_cents: nearestRank(sorted, 95),
      p99_order_value_cents: nearestRank(sorted, 99),
    });
    this.key = null;
    this.orders = new Set();
    this.customers = new Set();
    this.values = [];
    this.units = 0;
    this.revenue = 0;
    this.orderValue = 0;
  }
}

function exact(db: Db, r: SalesRequest): Answer {
  const acc = new GroupAccumulator();
  let rows = 0;
  if (isTimeGroup(r.groupBy)) {
    const stmt = db.prepare(exactTimeScanSql(r.statuses.length));
    const g = r.groupBy;
    for (const row of stmt.iterate(r.start, r.end, ...r.statuses) as IterableIterator<
      Record<string, number>
    >) {
      rows++;
      acc.add(
        timeKey(g, row.created_at!),
        row.order_pk!,
        row.customer_pk!,
        row.total_cents!,
        row.units ?? 0,
        row.total_cents!,
      );
    }
    acc.close();
    return {
      data: acc.out,
      rows,
      method: 'exact: ordered scan of orders (keyset index), per-bucket exact sets and sorted values',
    };
  }
  const byCategory = r.groupBy === 'category';
  const inRange = byCategory ? 0 : (db.prepare(ordersInRangeSql).get(r.start, r.end) as { n: number }).n;
  const stmt = db.prepare(
    exactGroupScanSql(
      byCategory ? 'category' : 'product',
      r.statuses.length,
      inRange <= PRODUCT_SORT_MAX_ORDERS,
    ),
  );
  for (const row of stmt.iterate(r.start, r.end, ...r.statuses) as IterableIterator<
    ItemLine & { k: string | number }
  >) {
    rows++;
    acc.addLine(row.k, row);
  }
  acc.close();
  let data = acc.out;
  if (!byCategory)
    data = data
      .sort((a, b) => b.revenue_cents - a.revenue_cents || Number(a.key) - Number(b.key))
      .slice(0, r.top);
  return {
    data,
    rows,
    method: `exact: scan of order items joined to orders, grouped by ${r.groupBy}, exact sets and sorted values`,
  };
}

/**
 * The pre-aggregate path that answers a request, with its query name for the timings, or null when
 * only the orders can: time buckets (exact only over whole hours), approx by category over whole days,
 * and products over whole days; `source=orders` always reads the orders.
 */
function rollupReader(db: Db, r: SalesRequest): { query: string; read: () => Answer } | null {
  const wholeHours = r.start % HOUR === 0 && r.end % HOUR === 0;
  const wholeDays = r.start % DAY === 0 && r.end % DAY === 0;
  const query = `metrics_${r.precision}_${r.groupBy}`;
  if (r.source === 'orders') return null;
  switch (r.groupBy) {
    case 'day':
    case 'hour':
    case 'week':
    case 'month':
      return r.precision === 'approx' || wholeHours
        ? { query, read: () => fromRollups(db, r as SalesRequest & { groupBy: TimeGroup }) }
        : null;
    case 'category':
      return wholeDays ? { query, read: () => categoryFromRollups(db, r) } : null;
    case 'product':
      return wholeDays ? { query, read: () => productFromRollups(db, r) } : null;
  }
}

/**
 * Time buckets from the pre-aggregates: rows merged per bucket, sketches (approx) or exact sets (exact).
 * Approx over a range not in whole hours reads the whole hours around it (meta says so).
 */
function fromRollups(db: Db, r: SalesRequest & { groupBy: TimeGroup }): Answer {
  // whole days by day, week or month read the day level, anything else the hours; both keep one row per
  // status and one for the default sale statuses pre-merged, which a default request reads alone
  const daily = r.groupBy !== 'hour' && r.start % DAY === 0 && r.end % DAY === 0;
  const premerged = isDefaultSale(r.statuses);
  const stmt = db.prepare(
    rollupSql(daily ? 'daily' : 'hourly', premerged ? 1 : r.statuses.length, r.precision),
  );
  const bucket = r.precision === 'approx' ? approxBucket : exactBucket;
  // rows arrive in time order, so a bucket is complete when the key changes: answer it and let its
  // sketches or lists go (ten years by day would otherwise hold every day's exact lists at once)
  const data: Bucket[] = [];
  let key: string | null = null;
  let current = new SalesAggregate();
  let rows = 0;
  for (const row of stmt.iterate(
    Math.floor(r.start / HOUR),
    Math.ceil(r.end / HOUR),
    ...(premerged ? [DEFAULT_SALES_KEY] : r.statuses),
  ) as IterableIterator<AggregateRow & { hour: number }>) {
    rows++;
    const rowKey = timeKey(r.groupBy, row.hour * HOUR);
    if (rowKey !== key) {
      if (key !== null) data.push(bucket(key, current));
      key = rowKey;
      current = new SalesAggregate();
    }
    current.mergeRow(row);
  }
  if (key !== null) data.push(bucket(key, current));
  const level = `${daily ? 'rollup_daily' : 'rollup_hourly'}${premerged ? ', default statuses pre-merged' : ''}`;
  return {
    data,
    rows,
    method:
      r.precision === 'approx'
        ? `approx: ${level} (exact sums, merged HyperLogLog of customers, merged t-digest of order values)`
        : `exact: ${level} (exact sums, merged sorted lists of distinct customers and of order values)`,
  };
}

/**
 * By product over whole days: the ranking, with each product's sums, from the per-day product sums;
 * then per ranked product either its per-day sketches merged (approx) or its lines through the product
 * index (exact), so only the top products are read either way.
 */
function productFromRollups(db: Db, r: SalesRequest): Answer {
  const ranked = db
    .prepare(productRankSql(r.statuses.length))
    .all(r.start / DAY, r.end / DAY, ...r.statuses, r.top) as (AggregateRow & { k: number })[];
  if (r.precision === 'approx') {
    const { buckets, rows } = approxProducts(db, r, ranked);
    return {
      data: ranked.map((p) => buckets.get(p.k)!),
      rows,
      method:
        "approx: rollup_daily_product sums rank the products; each ranked product's per-day HyperLogLog of customers and t-digest of order values merged from rollup_daily_product_sketch",
    };
  }
  const lines = db.prepare(productLinesSql(r.statuses.length));
  const acc = new GroupAccumulator();
  let rows = 0;
  for (const { k } of ranked) {
    for (const row of lines.iterate(k, r.start, r.end, ...r.statuses) as IterableIterator<ItemLine>) {
      rows++;
      acc.addLine(k, row);
    }
  }
  acc.close();
  return {
    data: acc.out,
    rows,
    method:
      "exact: rollup_daily_product sums rank the products, then the ranked products' lines through the product index",
  };
}

/** Ranked products whose per-day sketches are merged together: bounds the aggregates alive at once. */
const PRODUCT_SLICE = 1000;

/**
 * Each ranked product's sums (from the ranking) and its per-day sketches merged, a slice of products
 * (by id) at a time, day by day through the sketch table's key: the slice's ids looked up one by one,
 * or, where they are dense (a wide ranking), its whole id range read. Memory holds one slice's
 * aggregates and the finished buckets.
 */
function approxProducts(
  db: Db,
  r: SalesRequest,
  ranked: (AggregateRow & { k: number })[],
): { buckets: Map<number, Bucket>; rows: number } {
  const startDay = r.start / DAY;
  const endDay = r.end / DAY;
  const listed = db.prepare(productSketchesOfDaySql(r.statuses.length, 'listed'));
  const idRange = db.prepare(productSketchesOfDaySql(r.statuses.length, 'id-range'));
  const byId = [...ranked].sort((a, b) => a.k - b.k);
  const buckets = new Map<number, Bucket>();
  let rows = 0;
  for (let at = 0; at < byId.length; at += PRODUCT_SLICE) {
    const slice = byId.slice(at, at + PRODUCT_SLICE);
    const sales = new Map<number, SalesAggregate>();
    for (const product of slice) aggregateFor(sales, product.k, false).mergeRow(product);
    const first = slice[0]!.k;
    const last = slice[slice.length - 1]!.k;
    // a range read costs its ids' rows, lookups one seek per product and status: range when dense
    const dense = last - first + 1 <= 2 * slice.length;
    const ids = dense ? [first, last] : [JSON.stringify(slice.map((p) => p.k))];
    for (let day = startDay; day < endDay; day++) {
      for (const row of (dense ? idRange : listed).iterate(day, ...r.statuses, ...ids) as IterableIterator<
        Pick<AggregateRow, 'customers_hll' | 'values_tdigest'> & { k: number }
      >) {
        const product = sales.get(row.k);
        if (!product) continue; // an unranked product inside the range
        rows++;
        product.mergeStructures(row);
      }
    }
    for (const [k, product] of sales) buckets.set(k, approxBucket(k, product));
  }
  return { buckets, rows };
}

/** Approx by category over whole days: the per-day, per-category sketches merged per category. */
function categoryFromRollups(db: Db, r: SalesRequest): Answer {
  const premerged = isDefaultSale(r.statuses);
  const statuses = premerged ? [DEFAULT_SALES_KEY] : r.statuses;
  const groups = new Map<string, SalesAggregate>();
  let rows = 0;
  for (const row of db
    .prepare(categoryRollupSql(statuses.length, r.precision))
    .iterate(r.start / DAY, r.end / DAY, ...statuses) as IterableIterator<AggregateRow & { k: string }>) {
    rows++;
    aggregateFor(groups, row.k).mergeRow(row);
  }
  const keys = [...groups.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)); // byte order, as SQLite sorts
  const bucketOf = r.precision === 'approx' ? approxBucket : exactBucket;
  const level = premerged ? 'rollup_daily_category, default statuses pre-merged' : 'rollup_daily_category';
  return {
    data: keys.map((k) => bucketOf(k, groups.get(k)!)),
    rows,
    method:
      r.precision === 'approx'
        ? `approx: ${level} (exact sums, merged HyperLogLog of customers, merged t-digest of order values)`
        : `exact: ${level} (exact sums, merged sorted lists of distinct customers and of order values)`,
  };
}

function approxBucket(key: Bucket['key'], b: SalesAggregate): Bucket {
  return bucket(key, b, Math.round(b.customers.estimate()), (p) => Math.round(b.values.quantile(p / 100)));
}

function exactBucket(key: Bucket['key'], b: SalesAggregate): Bucket {
  const values = b.exact.values();
  return bucket(key, b, b.exact.customers().length, (p) => nearestRank(values, p));
}

/** A bucket's fields in the contract's order, from its sums, its distinct customers and a percentile. */
function bucket(
  key: Bucket['key'],
  b: SalesAggregate,
  uniqueCustomers: number,
  percentile: (p: number) => number | null,
): Bucket {
  return {
    key,
    orders: b.orders,
    units: b.units,
    revenue_cents: b.revenue,
    unique_customers: uniqueCustomers,
    avg_order_value_cents: avg(b.orderValue, b.orders),
    p50_order_value_cents: percentile(50),
    p95_order_value_cents: percentile(95),
    p99_order_value_cents: percentile(99),
  };
}

/** One answer (JSON task) or the same answer as Arrow record batches (stream task). */
function answerSales(ctx: TaskContext, input: SalesInput): SalesResult {
  const started = performance.now();
  const db = ctx.shards.db(input.tenantId);
  const aligned = input.start % HOUR === 0 && input.end % HOUR === 0;
  let result: Answer;
  let freshness: Record<string, unknown>;
  const reader = rollupReader(db, input);
  if (reader) {
    freshness = freshnessAfter(refresh(ctx, input));
    result = ctx.obs.timeQuery(reader.query, reader.read);
  } else {
    result = ctx.obs.timeQuery(`metrics_exact_${input.groupBy}`, () => exact(db, input));
    freshness = { policy: 'read from the orders themselves', as_of: new Date().toISOString() };
  }
  return {
    data: result.data,
    meta: {
      method: result.method,
      precision: input.precision,
      group_by: input.groupBy,
      statuses: input.statuses,
      elapsed_ms: Math.round((performance.now() - started) * 10) / 10,
      rows_scanned: result.rows,
      freshness,
      ...(input.precision === 'approx' && result.method.startsWith('approx')
        ? {
            error_bounds: errorBounds(HyperLogLog.RSE),
            ...(aligned ? {} : { range_rounded_to_whole_hours: true }),
          }
        : {}),
    },
  };
}

export const salesMetrics = defineTask('salesMetrics', (ctx, input: SalesInput) => answerSales(ctx, input));

export type SalesArrowInput = StreamTaskBase & SalesInput & { batchRows: number };

/**
 * The same answer as an Arrow IPC stream, written a record batch at a time as the client takes them
 * (credits): for results too large for one JSON document, such as every product's ranking. apache-arrow
 * loads on the first such request, not with the worker.
 */
export const salesMetricsArrow = defineStreamTask(
  'salesMetricsArrow',
  async (ctx, input: SalesArrowInput, sink) => {
    const result = answerSales(ctx, input);
    const { bucketsAsArrowStream } = await import('../src/formats/bucket-arrow.js');
    const keyKind = input.groupBy === 'product' ? 'integer' : 'text';
    for (const bytes of bucketsAsArrowStream(result.data, keyKind, result.meta, input.batchRows))
      await sink.writeBytes(bytes);
    ctx.obs.record('stream_rows_total', { route: 'metrics_sales' }, result.data.length);
    return null;
  },
  // nothing can follow a broken Arrow stream in-band: it ends without its end marker, which readers reject
  () => '',
);
