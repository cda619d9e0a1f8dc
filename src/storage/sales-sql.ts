import { placeholders } from './where.js';

/**
 * The sales-metrics queries, shared by the worker that runs them and tools/explain, which records their
 * plans. Every value is a bound parameter: (start, end, ...statuses) for the scans, (start hour, end hour,
 * ...statuses) for the rollups.
 */
const statusIn = (n: number) => `+o.status IN (${placeholders(n)})`;

/**
 * Exact by time from the orders, each with its units: (start, end, ...statuses). `date-index`: one pass over
 * the range through the keyset index, in time order; `storage-order`: (below order_pk, start, end,
 * ...statuses) a walk of the orders by rowid with their items beside them, rows in no particular time order
 * (src/sales/time-walk.ts).
 */
export function exactTimeScanSql(
  statuses: number,
  walk: 'date-index' | 'storage-order' = 'date-index',
): string {
  // the walk reads the orders below the journal's start (the journal holds the rest: src/sales/time-walk.ts)
  return `SELECT o.created_at, o.customer_pk, o.total_cents,
         (SELECT sum(i.quantity) FROM order_items i WHERE i.order_pk = o.order_pk) AS units
       FROM orders o${walk === 'storage-order' ? ' NOT INDEXED' : ''}
       WHERE ${walk === 'storage-order' ? 'o.order_pk < ? AND ' : ''}o.created_at >= ? AND o.created_at < ? AND ${statusIn(statuses)}${walk === 'date-index' ? ' ORDER BY o.created_at' : ''}`;
}

/**
 * Orders in a range up to which exact-by-product sorts the range's items instead of walking every item in
 * product order: measured on 1M orders, 30 days (~77k orders) took 1.9 s sorted vs 15.4 s walked. Sorting
 * happens in memory (temp_store), so the bound also caps that memory (~20 MB).
 */
export const PRODUCT_SORT_MAX_ORDERS = 150_000;

export const ordersInRangeSql = 'SELECT count(*) AS n FROM orders WHERE created_at >= ? AND created_at < ?';

/** The same count stopped at a limit (the third parameter): whether a range reaches a threshold. */
export const ordersInRangeUpToSql =
  'SELECT count(*) AS n FROM (SELECT 1 FROM orders WHERE created_at >= ? AND created_at < ? LIMIT ?)';

/**
 * The shard's newest order_pk: how many orders it holds, near enough to weigh a range's share of them
 * (orders are never deleted), read from the end of the key instead of counted (a count is ~40 ms per 1M).
 */
export const newestOrderSql = 'SELECT coalesce(max(order_pk), 0) AS n FROM orders';

/**
 * Exact by product from the orders (source=orders): items joined to their orders, ordered by product. A
 * short range is read through the date index and sorted; a long one walks the product index (no sort).
 */
export function exactProductScanSql(statuses: number, sortRange = false): string {
  return sortRange
    ? `SELECT i.product_id AS k, i.order_pk, i.quantity, i.unit_price_cents, o.customer_pk, o.total_cents
         FROM orders o JOIN order_items i ON i.order_pk = o.order_pk
         WHERE o.created_at >= ? AND o.created_at < ? AND ${statusIn(statuses)} ORDER BY i.product_id`
    : `SELECT i.product_id AS k, i.order_pk, i.quantity, i.unit_price_cents, o.customer_pk, o.total_cents
         FROM order_items i INDEXED BY order_items_product JOIN orders o ON o.order_pk = i.order_pk
         WHERE o.created_at >= ? AND o.created_at < ? AND ${statusIn(statuses)} ORDER BY i.product_id`;
}

/**
 * Every line of the range with what its order brings, one order's lines together (src/sales/product-scan.ts):
 * (first order_pk, end order_pk, start, end, ...statuses). `storage-order` walks orders by rowid and
 * order_items by its clustered key in step, both sequentially; `date-index` reads only the range's orders,
 * through the keyset index.
 */
export function productScanSql(statuses: number, walk: 'storage-order' | 'date-index'): string {
  const orders = walk === 'storage-order' ? 'orders o NOT INDEXED' : 'orders o INDEXED BY orders_created';
  return `SELECT o.order_pk, o.customer_pk, o.total_cents, i.product_id, i.quantity, i.unit_price_cents
       FROM ${orders} CROSS JOIN order_items i ON i.order_pk = o.order_pk
       WHERE o.order_pk >= ? AND o.order_pk < ? AND o.created_at >= ? AND o.created_at < ?
         AND ${statusIn(statuses)}`;
}

/**
 * By time from the pre-aggregates: the daily level for whole days by day, the hourly level otherwise;
 * approx reads the sketches, exact the exact sets.
 */
export function rollupSql(
  level: 'daily' | 'hourly',
  statuses: number,
  precision: 'approx' | 'exact',
): string {
  const structures =
    precision === 'approx' ? 'customers_hll, values_tdigest' : 'customers_exact, values_exact';
  return level === 'daily'
    ? `SELECT day * 24 AS hour, orders, units, revenue_cents, ${structures} FROM rollup_daily
         WHERE day >= ? / 24 AND day < ? / 24 AND status IN (${placeholders(statuses)}) ORDER BY day`
    : `SELECT hour, orders, units, revenue_cents, ${structures} FROM rollup_hourly
         WHERE hour >= ? AND hour < ? AND status IN (${placeholders(statuses)}) ORDER BY hour`;
}

/**
 * By hour (day) from the hourly (daily) level, one row per bucket: the rows' stored answers and sums
 * (sql/shard/017), no blob, (start hour, end hour, status key); `customers` or a percentile is
 * NULL in a row written before the answers were stored.
 */
export function rollupAnswersSql(level: 'daily' | 'hourly', precision: 'approx' | 'exact'): string {
  const answer = `${precision}_customers AS customers, ${precision}_p50_cents AS p50, ${precision}_p95_cents AS p95,
         ${precision}_p99_cents AS p99`;
  return level === 'daily'
    ? `SELECT day * 24 AS hour, orders, units, revenue_cents, ${answer} FROM rollup_daily_answer
         WHERE day >= ? / 24 AND day < ? / 24 AND status = ? ORDER BY day`
    : `SELECT hour, orders, units, revenue_cents, ${answer} FROM rollup_hourly_answer
         WHERE hour >= ? AND hour < ? AND status = ? ORDER BY hour`;
}

/**
 * By category from the per-day or the per-month category rollup: (first key, end key, ...statuses), keys
 * being epoch days or epoch months; approx reads the sketches, exact the exact sets.
 */
export function categoryRollupSql(
  level: 'daily' | 'monthly',
  statuses: number,
  precision: 'approx' | 'exact',
): string {
  const structures =
    precision === 'approx' ? 'customers_hll, values_tdigest' : 'customers_exact, values_exact';
  const [table, key] =
    level === 'daily' ? ['rollup_daily_category', 'day'] : ['rollup_monthly_category', 'month'];
  return `SELECT category AS k, orders, units, revenue_cents, order_value_cents, ${structures}
       FROM ${table} WHERE ${key} >= ? AND ${key} < ? AND status IN (${placeholders(statuses)})`;
}

/** One day's line blocks (sql/shard/018), in the order they were written: (epoch day). */
export const lineBlocksOfDaySql = 'SELECT block FROM order_line_blocks WHERE day = ? ORDER BY part';

/** The dirty months of a range of epoch months (start, end): their month-level rows are not valid. */
export const dirtyMonthsSql = 'SELECT month FROM rollup_dirty_months WHERE month >= ? AND month < ?';
