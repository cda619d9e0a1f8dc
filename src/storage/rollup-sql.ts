import { ORDER_STATUSES } from '../domain/vocabulary.js';
import { newestOrderSql } from './sales-sql.js';
import type { Db } from './sqlite.js';

/** A stored answer's columns (sql/shard/017): distinct customers and p50/p95/p99 exactly, then approx. */
const ANSWER_COLUMNS =
  'exact_customers, exact_p50_cents, exact_p95_cents, exact_p99_cents, approx_customers, approx_p50_cents, approx_p95_cents, approx_p99_cents';

/** An order's status as its index in ORDER_STATUSES. */
const STATUS_CODE_SQL = `CASE o.status ${ORDER_STATUSES.map((status, i) => `WHEN '${status}' THEN ${i}`).join(' ')} END`;

/** The category level of a day or of a month: its table and key column (sql/shard/009, 016). */
const CATEGORY_LEVEL = { day: 'rollup_daily_category', month: 'rollup_monthly_category' } as const;
const CATEGORY_COLUMNS =
  'orders, units, revenue_cents, order_value_cents, customers_hll, values_tdigest, customers_exact, values_exact';

/** One category row of a level with every structure: (key, status, category). */
function categoryRowSql(key: keyof typeof CATEGORY_LEVEL): string {
  return `SELECT ${CATEGORY_COLUMNS} FROM ${CATEGORY_LEVEL[key]} WHERE ${key} = ? AND status = ? AND category = ?`;
}

/** Writes a category row of a level: (key, status, category, then the columns in CATEGORY_COLUMNS' order). */
function insertCategorySql(key: keyof typeof CATEGORY_LEVEL): string {
  return `INSERT OR REPLACE INTO ${CATEGORY_LEVEL[key]} (${key}, status, category, ${CATEGORY_COLUMNS})
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;
}

/**
 * The statements the rollup builder runs (src/storage/rollups.ts), prepared once per connection: the dirty
 * hours and the watermark, the orders and lines a rebuild or a delta reads, and the rows it writes at each
 * level (hour, day, day x category, month x category, the day's line blocks).
 */
export function rollupStatements(db: Db) {
  return {
    dirtyIn: db.prepare('SELECT hour FROM rollup_dirty_hours WHERE hour >= ? AND hour < ? ORDER BY hour'),
    countDirty: db.prepare('SELECT count(*) AS n FROM rollup_dirty_hours WHERE hour >= ? AND hour < ?'),
    isDirty: db.prepare('SELECT 1 FROM rollup_dirty_hours WHERE hour = ?'),
    hourOrders: db.prepare(
      `SELECT o.status, o.customer_pk, o.total_cents,
         (SELECT sum(i.quantity) FROM order_items i WHERE i.order_pk = o.order_pk) AS units
       FROM orders o WHERE o.created_at >= ? AND o.created_at < ? AND +o.order_pk <= ?`,
    ),
    watermark: db.prepare('SELECT order_pk AS pk FROM rollup_watermark WHERE id = 1'),
    setWatermark: db.prepare('UPDATE rollup_watermark SET order_pk = ? WHERE id = 1'),
    newestOrder: db.prepare(newestOrderSql),
    pendingCount: db.prepare('SELECT count(*) AS n FROM orders WHERE order_pk > ? AND order_pk <= ?'),
    hasPending: db.prepare(
      `SELECT EXISTS (SELECT 1 FROM orders
        WHERE order_pk > (SELECT order_pk FROM rollup_watermark WHERE id = 1)) AS pending`,
    ),
    pendingAge: db.prepare(
      `SELECT count(*) AS n, min(ingested_at) AS oldest FROM orders
       WHERE order_pk > (SELECT order_pk FROM rollup_watermark WHERE id = 1)`,
    ),
    markPending: db.prepare(
      `INSERT OR IGNORE INTO rollup_dirty_hours (hour)
       SELECT DISTINCT created_at / 3600000 FROM orders WHERE order_pk > ? AND order_pk <= ?`,
    ),
    pendingOrders: db.prepare(
      `SELECT o.created_at, o.status, o.customer_pk, o.total_cents,
         (SELECT sum(i.quantity) FROM order_items i WHERE i.order_pk = o.order_pk) AS units
       FROM orders o WHERE o.order_pk > ? AND o.order_pk <= ?`,
    ),
    pendingLines: db.prepare(
      `SELECT o.order_pk, o.created_at, o.status, o.customer_pk, o.total_cents, p.category, i.product_id,
         i.quantity, i.unit_price_cents
       FROM orders o JOIN order_items i ON i.order_pk = o.order_pk JOIN products p ON p.product_id = i.product_id
       WHERE o.order_pk > ? AND o.order_pk <= ? ORDER BY o.order_pk`,
    ),
    anyDirtyIn: db.prepare('SELECT 1 FROM rollup_dirty_hours WHERE hour >= ? AND hour < ? LIMIT 1'),
    hourRow: db.prepare(
      `SELECT orders, units, revenue_cents, customers_hll, values_tdigest, customers_exact, values_exact
       FROM rollup_hourly WHERE hour = ? AND status = ?`,
    ),
    dailyRow: db.prepare(
      `SELECT orders, units, revenue_cents, customers_hll, values_tdigest, customers_exact, values_exact
       FROM rollup_daily WHERE day = ? AND status = ?`,
    ),
    categoryRow: db.prepare(categoryRowSql('day')),
    deleteHour: db.prepare('DELETE FROM rollup_hourly WHERE hour = ?'),
    insertHour: db.prepare(
      `INSERT OR REPLACE INTO rollup_hourly (hour, status, orders, units, revenue_cents, customers_hll, values_tdigest,
         customers_exact, values_exact, dirty, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)`,
    ),
    // raw rows (order_pk, status code, customer_pk, total_cents, product_id, quantity, unit_price_cents), an
    // order's lines together (orders by date, each order's items): no text column, so no string made per
    // line (iterating them as objects was the rebuild's largest cost); categories come from a product map
    dayLines: db
      .prepare(
        `SELECT o.order_pk, ${STATUS_CODE_SQL}, o.customer_pk, o.total_cents, i.product_id, i.quantity,
           i.unit_price_cents
         FROM orders o JOIN order_items i ON i.order_pk = o.order_pk
         WHERE o.created_at >= ? AND o.created_at < ? AND +o.order_pk <= ?`,
      )
      .raw(),
    deleteDayCategory: db.prepare('DELETE FROM rollup_daily_category WHERE day = ?'),
    insertDayCategory: db.prepare(insertCategorySql('day')),
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
    // each hourly and daily row's own answer (sql/shard/017), written and deleted with it
    insertHourAnswer: db.prepare(
      `INSERT OR REPLACE INTO rollup_hourly_answer (hour, status, orders, units, revenue_cents, ${ANSWER_COLUMNS})
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    insertDayAnswer: db.prepare(
      `INSERT OR REPLACE INTO rollup_daily_answer (day, status, orders, units, revenue_cents, ${ANSWER_COLUMNS})
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    deleteHourAnswers: db.prepare('DELETE FROM rollup_hourly_answer WHERE hour = ?'),
    deleteDayAnswers: db.prepare('DELETE FROM rollup_daily_answer WHERE day = ?'),
    // the day's order lines as columnar blocks (sql/shard/018)
    deleteDayBlocks: db.prepare('DELETE FROM order_line_blocks WHERE day = ?'),
    insertDayBlock: db.prepare(
      'INSERT INTO order_line_blocks (day, part, orders, lines, block) VALUES (?, ?, ?, ?, ?)',
    ),
    dayBlockParts: db.prepare(
      `SELECT count(*) AS n, coalesce(max(part), -1) AS last, coalesce(sum(orders), 0) AS orders,
              coalesce(sum(lines), 0) AS lines FROM order_line_blocks WHERE day = ?`,
    ),
    dayBlocks: db.prepare('SELECT block FROM order_line_blocks WHERE day = ? ORDER BY part'),
    // the month level by category (sql/shard/016): its dirty months, its rows, the day rows it merges
    dirtyDays: db.prepare('SELECT DISTINCT hour / 24 AS day FROM rollup_dirty_hours'),
    markMonth: db.prepare('INSERT OR IGNORE INTO rollup_dirty_months (month) VALUES (?)'),
    isMonthDirty: db.prepare('SELECT 1 FROM rollup_dirty_months WHERE month = ?'),
    dirtyMonthsIn: db.prepare(
      'SELECT month FROM rollup_dirty_months WHERE month >= ? AND month < ? ORDER BY month DESC',
    ),
    cleanMonth: db.prepare('DELETE FROM rollup_dirty_months WHERE month = ?'),
    monthDayCategories: db.prepare(
      `SELECT status, category, orders, units, revenue_cents, order_value_cents, customers_hll, values_tdigest,
         customers_exact, values_exact
       FROM rollup_daily_category WHERE day >= ? AND day < ?`,
    ),
    monthCategoryRow: db.prepare(categoryRowSql('month')),
    deleteMonthCategory: db.prepare('DELETE FROM rollup_monthly_category WHERE month = ?'),
    insertMonthCategory: db.prepare(insertCategorySql('month')),
    insertDaily: db.prepare(
      `INSERT OR REPLACE INTO rollup_daily (day, status, orders, units, revenue_cents, customers_hll, values_tdigest,
         customers_exact, values_exact, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
  };
}

export type RollupStatements = ReturnType<typeof rollupStatements>;
