/**
 * Sales pre-aggregates on PostgreSQL (issue 17): one `rollup_daily` row per tenant, day and status, one
 * `rollup_hourly` row per tenant, hour and status (sql/postgres/015), one `rollup_daily_category` row per
 * tenant, day, category and status (sql/postgres/013), and one `rollup_monthly_category` row per tenant,
 * month, category and status (sql/postgres/014), with exact sums, the customers' HyperLogLog and the order
 * values' t-digest, and their exact sorted lists (sql/postgres/015) as bytea, built and merged by the same
 * code as SQLite's (src/sketches). The time levels also keep, per period, a row of the default sale
 * statuses pre-merged (status DEFAULT_SALES_KEY, sql/postgres/016), which a request of those statuses reads
 * alone, as SQLite's hour and day levels do. They are kept by a background refresher, never by a reader: every write
 * transaction names its days and orders in `rollup_pending` (sql/postgres/012), and the refresher takes
 * those rows and adds their orders to every level in one transaction. A read by time over whole hours
 * (by hour: the hours' rows; by day, week or month: the whole days' rows and the hours' around them), or by
 * category over whole days (the whole months' rows and the days' around them), merges the rows when none of
 * its days is pending, and answers from the orders otherwise (saying why), so an approx answer never leaves
 * out an acknowledged order.
 */
import type { ClientBase } from 'pg';
import { firstDayOfMonth, monthOfDay, splitIntoMonths } from '../../domain/months.js';
import { NamedError } from '../../domain/named-error.js';
import {
  byBucketKey,
  DAY,
  DEFAULT_SALES_KEY,
  type GroupBy,
  HOUR,
  isDefaultSale,
  rollupStatusKeys,
  type SalesRequest,
  timeKey,
} from '../../domain/sales.js';
import { approxBucket, exactBucket, type SalesAnswer } from '../../sales/buckets.js';
import { type AggregateRow, aggregateFor, SalesAggregate } from '../../sketches/sales-aggregate.js';
import { appendLineBlocks, buildLineBlocks } from './line-blocks.js';
import { tryLockTenant } from './tenant-locks.js';
import { inTransaction } from './transaction.js';

/**
 * Pending rows taken per refresh (each names the orders of one write transaction, up to a commit's rows):
 * the orders they name are read at once. Rows are taken until they name ORDERS_PER_REFRESH orders (at least
 * one row): a bulk load's commits hold tens of thousands of orders each, and ten of them (240,000 orders
 * of a 1M-order load) made one refresh transaction of minutes.
 */
const PENDING_PER_REFRESH = 10;
const ORDERS_PER_REFRESH = 50_000;

/**
 * A refresh's orders up to this many have their lines looked up order by order (LATERAL, through the
 * lines' primary key); more are joined as sets (the tenant's lines hashed once). On 1M orders: 2.3 s for
 * 20,000 orders either way; 240,000 orders 23.5 s one by one against 9.2 s hashed (docs/postgres.md).
 */
const LOOKED_UP_ORDERS_MAX = 20_000;

/**
 * Periods whose groups are held at a time, per level's period: when writes are folded in (`delta`: a
 * backfill's write touches every day of the year; ~20 KB of sketches a day and status, and as much per
 * category) and while a level is built (`build`: a week of days, or one month, written at a time).
 */
const PERIODS_HELD = {
  hour: { delta: 31 * 24, build: 7 * 24 },
  day: { delta: 31, build: 7 },
  month: { delta: 1, build: 1 },
} as const;

/**
 * When a tenant's pending orders are folded in by building every level whole instead of as deltas: at
 * least `minOrders` pending, and at least `foldedShare` of the orders already folded in. A refresh of
 * deltas rewrites every row its orders touch, and a backfill's orders touch every period of the year: on
 * ~1M orders one refresh of 10,000 of them took 6.1 s and a whole build 25 s (docs/postgres.md), and N
 * pending orders are about N / ORDERS_PER_REFRESH such refreshes, where one build does them all. The share
 * keeps a large tenant's steady stream of recent orders (few rows touched) on deltas.
 */
const BACKLOG_REBUILD = { minOrders: 200_000, foldedShare: 0.25 } as const;

/** Facts fetched from the build's cursor at a time (orders, or an order's lines of one category). */
const FACTS_PER_FETCH = 20_000;

export interface RefreshOptions {
  /** facts fetched from the first build's cursor at a time (default FACTS_PER_FETCH; tests take a few) */
  factsPerFetch?: number;
  /** the orders a refresh takes pending rows up to (default ORDERS_PER_REFRESH) */
  ordersPerRefresh?: number;
  /** a refresh's orders above which their lines are joined as sets (default LOOKED_UP_ORDERS_MAX) */
  lookedUpOrdersMax?: number;
  /** the pending orders from which the tenant is built whole (default BACKLOG_REBUILD.minOrders) */
  backlogRebuildOrders?: number;
  /**
   * Asked between the steps of a refresh (a fetch of facts, a few periods' rows): true abandons the
   * transaction (RefreshStopped), its pending rows left for the next refresh. See rollup-refresh-run.ts.
   */
  shouldStop?: () => boolean;
}

/** A refresh abandoned at its caller's request (`RefreshOptions.shouldStop`); its transaction rolled back. */
export class RefreshStopped extends NamedError {
  constructor() {
    super('pre-aggregates refresh stopped: the tenant is being written');
  }
}

function stopIfAsked(options: RefreshOptions): void {
  if (options.shouldStop?.()) throw new RefreshStopped();
}

/** A tenant whose pre-aggregates have work to do, and why it was picked. */
export interface RollupWork {
  tenantId: number;
  /**
   * Picked because a write has waited `maxLagMs` while writes go on (a steady stream), not because its
   * writes stopped: such a refresh must not give way to the writes that follow, or it never would finish.
   */
  lagging: boolean;
}

/**
 * Tenants whose pre-aggregates have work to do: never built, or days pending and either no write for
 * `quietMs` (a load has ended) or a write pending for `maxLagMs` (a steady stream). During a bulk load the
 * refresher waits: a backfill's every batch touches most days of the year, and updating their rows after
 * each would compete with the load for the same cores; reads meanwhile answer from the orders.
 */
export async function tenantsWithRollupWork(
  db: Pick<ClientBase, 'query'>,
  quietMs: number,
  maxLagMs: number,
): Promise<RollupWork[]> {
  const { rows } = await db.query<{ tenant_id: number; lagging: boolean }>(
    `SELECT tenant_id, bool_or(lagging) AS lagging FROM (
       SELECT tenant_id,
              max(written_at) >= now() - make_interval(secs => $1::float8 / 1000) AS lagging
         FROM rollup_pending GROUP BY tenant_id
        HAVING max(written_at) < now() - make_interval(secs => $1::float8 / 1000)
            OR min(written_at) < now() - make_interval(secs => $2::float8 / 1000)
       UNION ALL
       SELECT t.tenant_id, false FROM tenants t
        WHERE NOT EXISTS (SELECT 1 FROM rollup_watermark w WHERE w.tenant_id = t.tenant_id)
     ) work GROUP BY tenant_id ORDER BY 1`,
    [quietMs, maxLagMs],
  );
  return rows.map((r) => ({ tenantId: r.tenant_id, lagging: r.lagging }));
}

/** The database's clock now: where a refresh starts watching for writes (`writtenSince`). */
export async function databaseNow(db: Pick<ClientBase, 'query'>): Promise<string> {
  const { rows } = await db.query<{ at: string }>('SELECT clock_timestamp()::text AS at');
  return rows[0]!.at;
}

/** Whether a write transaction of the tenant that began after `at` has committed orders. */
export async function writtenSince(
  db: Pick<ClientBase, 'query'>,
  tenantId: number,
  at: string,
): Promise<boolean> {
  const { rows } = await db.query<{ written: boolean }>(
    'SELECT EXISTS (SELECT 1 FROM rollup_pending WHERE tenant_id = $1 AND written_at > $2::timestamptz) AS written',
    [tenantId, at],
  );
  return rows[0]!.written;
}

export interface RollupRefresh {
  /**
   * How: every level built whole from the tenant's orders, because it never was (`first build`) or because
   * its pending orders are more than deltas fold in cheaper (`backlog rebuild`: BACKLOG_REBUILD); or the
   * oldest pending writes' orders added to the rows they touch (`deltas`).
   */
  mode: 'first build' | 'backlog rebuild' | 'deltas';
  /** pending rows taken (write transactions folded in) */
  writes: number;
  /** rows written, of every level */
  rows: number;
  /** orders read */
  orders: number;
}

/** One period (a level's hour, day or month), status (and category)'s orders, to add to its stored row (or a fresh one). */
interface PeriodGroup {
  period: number;
  status: string;
  /** the category level's rows only */
  category?: string;
  sums: SalesAggregate;
}

/**
 * An order as a level takes it: the daily level the whole order, the category level the order's lines of
 * one category (their units, and their revenue as `revenue`; the order's total still its value).
 */
interface OrderFacts {
  /** the order's epoch hour (its day and month follow) */
  hour: number;
  status: string;
  category?: string;
  customer: number;
  total: number;
  units: number;
  revenue?: number;
}

/** A table of pre-aggregated rows, and the queries of the facts it is made of. */
interface Level {
  table: 'rollup_daily' | 'rollup_hourly' | 'rollup_daily_category' | 'rollup_monthly_category';
  /** a row's period: its key column, an epoch hour, day or month (src/domain/months.ts) */
  period: 'hour' | 'day' | 'month';
  /** the rows are per category as well (and keep their orders' totals apart from the lines' revenue) */
  byCategory: boolean;
  /** the table has an updated_at column */
  stamped: boolean;
  /**
   * a row per period holds the default sale statuses merged (status DEFAULT_SALES_KEY) beside the rows per
   * status: the time levels, where it cuts a default read's rows by three (a month by hour in process on
   * 990k orders: approx 18.9 → 11.2 ms, exact 19.4 → 9.7). The category levels have none: there it cost
   * more than it gave (a backfill's refresh 9.3 → 13.4 s for category reads already under DuckDB's;
   * docs/postgres.md).
   */
  premerged: boolean;
  /** the facts of the orders `$2` (bigint[]) of tenant `$1`, in time order; `many`: too many to look up one by one */
  facts(many: boolean): string;
  /** the facts of every order of tenant $1, in time order (the first build: planned to read every row) */
  tenantFacts: string;
}

/** A fact's epoch hour, its first column (the facts are sorted by it). */
const FACT_HOUR = 'floor(extract(epoch FROM o.created_at) / 3600)::integer AS hour';

/** Each order whole, of a WHERE clause on `o`. */
const orderFacts = (where: string) => `SELECT ${FACT_HOUR},
      o.status, o.customer_pk::float8 AS customer, o.total_cents::float8 AS total, o.units
    FROM orders o WHERE ${where} ORDER BY 1`;

const DAILY: Level = {
  table: 'rollup_daily',
  period: 'day',
  byCategory: false,
  stamped: true,
  premerged: true,
  facts: () => orderFacts('o.tenant_id = $1 AND o.order_pk = ANY($2::bigint[])'),
  tenantFacts: orderFacts('o.tenant_id = $1'),
};

/** The daily rows by hour: the same facts, summed by hour. */
const HOURLY: Level = { ...DAILY, table: 'rollup_hourly', period: 'hour' };

/** Each order's lines by category (as the exact answer groups them, src/storage/postgres/sales.ts). */
const CATEGORY_FACT = `${FACT_HOUR}, o.status, l.category,
      o.customer_pk::float8 AS customer, o.total_cents::float8 AS total, l.units, l.revenue`;
const CATEGORY_LINES = `sum(i.quantity)::float8 AS units, sum(i.quantity * i.unit_price_cents)::float8 AS revenue
        FROM order_items i JOIN products p ON p.tenant_id = i.tenant_id AND p.product_id = i.product_id`;

/** The lines looked up order by order (LATERAL, through order_items' primary key): a few orders. */
const categoryFactsLookedUp = `SELECT ${CATEGORY_FACT}
    FROM orders o CROSS JOIN LATERAL (
      SELECT p.category, ${CATEGORY_LINES}
       WHERE i.tenant_id = o.tenant_id AND i.order_pk = o.order_pk
       GROUP BY p.category) l
   WHERE o.tenant_id = $1 AND o.order_pk = ANY($2::bigint[]) ORDER BY 1`;

/** The lines of a WHERE clause on `i`, joined to the orders of one on `o` as sets (hashed): many orders. */
const categoryFactsHashed = (lines: string, orders: string) => `SELECT ${CATEGORY_FACT}
    FROM orders o JOIN (
      SELECT i.order_pk, p.category, ${CATEGORY_LINES}
       WHERE ${lines}
       GROUP BY i.order_pk, p.category) l ON l.order_pk = o.order_pk
   WHERE ${orders} ORDER BY 1`;

/**
 * A refresh's few orders have their lines looked up one by one: joined as sets, the planner hashes them
 * against a scan of every line of the tenant. Many orders, and the first build (every line), are joined
 * as sets, grouped and sorted once.
 */
const DAILY_CATEGORY: Level = {
  table: 'rollup_daily_category',
  period: 'day',
  byCategory: true,
  stamped: false,
  premerged: false,
  facts: (many) =>
    !many
      ? categoryFactsLookedUp
      : categoryFactsHashed(
          'i.tenant_id = $1 AND i.order_pk = ANY($2::bigint[])',
          'o.tenant_id = $1 AND o.order_pk = ANY($2::bigint[])',
        ),
  tenantFacts: categoryFactsHashed('i.tenant_id = $1', 'o.tenant_id = $1'),
};

/** The category rows by month: the same facts as the daily ones, summed by month. */
const MONTHLY_CATEGORY: Level = { ...DAILY_CATEGORY, table: 'rollup_monthly_category', period: 'month' };

/** The levels by the facts they read: each group's levels are built from one pass over those facts. */
const LEVELS_BY_FACTS: readonly (readonly Level[])[] = [
  [DAILY, HOURLY],
  [DAILY_CATEGORY, MONTHLY_CATEGORY],
];

/** Every level's table (what a build deletes and refills; what a harness sizes). */
export const ROLLUP_TABLES: readonly Level['table'][] = LEVELS_BY_FACTS.flat().map((level) => level.table);

/** The first millisecond of a level's period. */
function periodStart(level: Level, period: number): number {
  if (level.period === 'hour') return period * HOUR;
  return (level.period === 'day' ? period : firstDayOfMonth(period)) * DAY;
}

/** A level's period of an epoch hour. */
function periodOf(level: Level, hour: number): number {
  if (level.period === 'hour') return hour;
  const day = Math.floor(hour / 24);
  return level.period === 'day' ? day : monthOfDay(day);
}

/** The stored structures a read of each precision merges: the sketches, or the exact sorted lists. */
const STRUCTURES = {
  approx: 'customers_hll, values_tdigest',
  exact: 'customers_exact, values_exact',
} as const satisfies Record<SalesRequest['precision'], string>;

/** What a category row has beyond a daily one, as read. */
const CATEGORY_COLUMNS = 'category, order_value_cents::float8 AS order_value_cents, ';

/**
 * Folds the tenant's pending writes into its daily rows, in one REPEATABLE READ transaction: the pending
 * rows taken and the orders read are of one snapshot, so every order is added exactly once (a write that
 * commits meanwhile keeps its pending row for the next refresh, and its orders are not seen by this one).
 * A write's orders are added to the rows of their days (sums, HyperLogLog and t-digest all take new
 * orders without a rebuild; orders never change afterwards), so a refresh reads only the new orders, not
 * every order of the days they touched. The first refresh of a tenant, and one facing a backlog that
 * deltas fold in dearer than a build (BACKLOG_REBUILD), builds every level whole from the orders and takes
 * every pending row. Null when another refresher (another server) holds the tenant.
 */
export function refreshTenantRollups(
  client: ClientBase,
  tenantId: number,
  options: RefreshOptions = {},
): Promise<RollupRefresh | null> {
  const t = tenantId;
  return inTransaction(
    client,
    async () => {
      // one refresher of a tenant at a time
      if (!(await tryLockTenant(client, 'rollup_refresh', t))) return null;
      const mode = await refreshMode(client, t, options.backlogRebuildOrders ?? BACKLOG_REBUILD.minOrders);
      if (mode !== 'deltas') return { mode, ...(await buildWhole(client, t, options)) };
      // the oldest rows, up to PENDING_PER_REFRESH of them naming up to ORDERS_PER_REFRESH orders (at least one)
      const taken = await client.query<{ order_pks: string[] }>(
        `DELETE FROM rollup_pending WHERE tenant_id = $1 AND seq IN
           (SELECT seq FROM (
              SELECT seq, sum(cardinality(order_pks)) OVER (ORDER BY seq) - cardinality(order_pks) AS before
                FROM rollup_pending WHERE tenant_id = $1 ORDER BY seq LIMIT $2) oldest
             WHERE before < $3)
         RETURNING order_pks`,
        [t, PENDING_PER_REFRESH, options.ordersPerRefresh ?? ORDERS_PER_REFRESH],
      );
      const pks = taken.rows.flatMap((r) => r.order_pks);
      if (pks.length === 0) return { mode, writes: 0, rows: 0, orders: 0 };
      let rows = 0;
      let orders = 0;
      for (const levels of LEVELS_BY_FACTS) {
        stopIfAsked(options);
        const { rows: added } = await client.query<OrderFacts>(
          levels[0]!.facts(pks.length > (options.lookedUpOrdersMax ?? LOOKED_UP_ORDERS_MAX)),
          [t, pks],
        );
        if (levels.includes(DAILY)) orders = added.length;
        for (const level of levels) {
          // a few periods at a time (the facts come in time order): their groups' sketches are all that is held
          const held = PERIODS_HELD[level.period].delta;
          for (let i = 0; i < added.length; ) {
            stopIfAsked(options);
            const end = periodOf(level, added[i]!.hour) + held;
            let j = i;
            while (j < added.length && periodOf(level, added[j]!.hour) < end) j++;
            rows += await addToPeriods(client, t, level, added.slice(i, j));
            i = j;
          }
        }
      }
      stopIfAsked(options);
      rows += await appendLineBlocks(client, t, pks);
      return { mode, writes: taken.rowCount ?? 0, rows, orders };
    },
    'repeatable read',
  );
}

/** Whether the tenant is built whole (never built, or a backlog: BACKLOG_REBUILD) or takes deltas. */
async function refreshMode(
  client: ClientBase,
  tenantId: number,
  backlogRebuildOrders: number,
): Promise<RollupRefresh['mode']> {
  const { rows } = await client.query<{ built: boolean; pending: number; folded: number }>(
    `SELECT EXISTS (SELECT 1 FROM rollup_watermark WHERE tenant_id = $1) AS built,
            (SELECT coalesce(sum(cardinality(order_pks)), 0) FROM rollup_pending WHERE tenant_id = $1)::float8 AS pending,
            (SELECT coalesce(sum(orders), 0) FROM rollup_daily WHERE tenant_id = $1 AND status <> $2)::float8 AS folded`,
    [tenantId, DEFAULT_SALES_KEY],
  );
  const { built, pending, folded } = rows[0]!;
  if (!built) return 'first build';
  return pending >= backlogRebuildOrders && pending >= folded * BACKLOG_REBUILD.foldedShare
    ? 'backlog rebuild'
    : 'deltas';
}

/**
 * Builds every level of the tenant whole from its orders, taking every pending row (of this snapshot: a
 * write committing meanwhile keeps its row, and its orders are not read), its earlier rows deleted first.
 */
async function buildWhole(
  client: ClientBase,
  tenantId: number,
  options: RefreshOptions,
): Promise<Omit<RollupRefresh, 'mode'>> {
  const taken = await client.query('DELETE FROM rollup_pending WHERE tenant_id = $1', [tenantId]);
  let rows = 0;
  let orders = 0;
  for (const table of ROLLUP_TABLES)
    await client.query(`DELETE FROM ${table} WHERE tenant_id = $1`, [tenantId]);
  for (const levels of LEVELS_BY_FACTS) {
    const built = await buildLevels(client, tenantId, levels, options);
    rows += built.rows;
    if (levels.includes(DAILY)) orders = built.facts;
  }
  stopIfAsked(options);
  rows += await buildLineBlocks(client, tenantId);
  await client.query(
    `INSERT INTO rollup_watermark (tenant_id, order_pk)
     SELECT $1, coalesce(max(order_pk), 0) FROM orders WHERE tenant_id = $1
     ON CONFLICT (tenant_id) DO UPDATE SET order_pk = EXCLUDED.order_pk`,
    [tenantId],
  );
  return { writes: taken.rowCount ?? 0, rows, orders };
}

/** A group's key in its level: period, status and (category levels) category. */
const groupKey = (period: number, status: string, category: string | undefined) =>
  `${period}|${status}|${category ?? ''}`;

/**
 * Adds orders (of a few periods: PERIODS_HELD) to the level's stored rows of their periods; answers the
 * rows written.
 */
async function addToPeriods(
  client: ClientBase,
  tenantId: number,
  level: Level,
  orders: readonly OrderFacts[],
): Promise<number> {
  const groups = new Map<string, PeriodGroup>();
  addFacts(groups, level, orders);
  const stored = await client.query<AggregateRow & { period: number; status: string; category?: string }>(
    `SELECT ${level.period}::float8 AS period, status, ${level.byCategory ? CATEGORY_COLUMNS : ''}orders::float8 AS orders,
            units::float8 AS units, revenue_cents::float8 AS revenue_cents, ${STRUCTURES.approx}, ${STRUCTURES.exact}
       FROM ${level.table} WHERE tenant_id = $1 AND ${level.period} = ANY($2::bigint[])`,
    [tenantId, [...new Set([...groups.values()].map((g) => g.period))]],
  );
  for (const row of stored.rows)
    groups.get(groupKey(row.period, row.status, row.category))?.sums.mergeRow(row);
  await writeRows(client, tenantId, level, [...groups.values()]);
  return groups.size;
}

/**
 * Adds facts to their groups (by the level's period, status key and category), making the groups they are
 * the first of: a sale's order counts under its status and, in a level that keeps it, under the default
 * sale statuses' pre-merged key.
 */
function addFacts(groups: Map<string, PeriodGroup>, level: Level, orders: readonly OrderFacts[]): void {
  for (const o of orders) {
    const period = periodOf(level, o.hour);
    for (const status of level.premerged ? rollupStatusKeys(o.status) : [o.status]) {
      const key = groupKey(period, status, o.category);
      let g = groups.get(key);
      if (!g) {
        g = { period, status, sums: new SalesAggregate() };
        if (o.category !== undefined) g.category = o.category;
        groups.set(key, g);
      }
      g.sums.addOrder(o.customer, o.total, o.units, o.revenue ?? o.total);
    }
  }
}

/**
 * Builds every row of the levels (which read the same facts) from the tenant's facts, read in time order
 * through one cursor (one scan and one sort, planned for reading every row: `cursor_tuple_fraction` 1),
 * each level holding and writing a few periods' groups at a time (PERIODS_HELD). Per-week queries cost a
 * scan of the tenant's lines each: the first build of 200k orders took 12.5–15 s that way, 4.7–5.8 s this
 * way (docs/perf.md, PostgreSQL).
 */
async function buildLevels(
  client: ClientBase,
  tenantId: number,
  levels: readonly Level[],
  options: RefreshOptions,
): Promise<{ rows: number; facts: number }> {
  const factsPerFetch = options.factsPerFetch ?? FACTS_PER_FETCH;
  await client.query('SET LOCAL cursor_tuple_fraction = 1');
  await client.query(`DECLARE rollup_build NO SCROLL CURSOR FOR ${levels[0]!.tenantFacts}`, [tenantId]);
  const builds = levels.map((level) => ({
    level,
    held: PERIODS_HELD[level.period].build,
    groups: new Map<string, PeriodGroup>(),
    firstPeriod: Number.NEGATIVE_INFINITY,
  }));
  let rows = 0;
  let facts = 0;
  const flush = async (build: (typeof builds)[number]) => {
    await writeRows(client, tenantId, build.level, [...build.groups.values()]);
    rows += build.groups.size;
    build.groups = new Map();
  };
  for (;;) {
    stopIfAsked(options);
    const batch = await client.query<OrderFacts>(`FETCH ${factsPerFetch} FROM rollup_build`);
    if (batch.rows.length === 0) break;
    facts += batch.rows.length;
    for (const build of builds) {
      const period = (i: number) => periodOf(build.level, batch.rows[i]!.hour);
      let i = 0;
      while (i < batch.rows.length) {
        if (period(i) >= build.firstPeriod + build.held) {
          await flush(build);
          build.firstPeriod = period(i);
        }
        let j = i;
        while (j < batch.rows.length && period(j) < build.firstPeriod + build.held) j++;
        addFacts(build.groups, build.level, batch.rows.slice(i, j));
        i = j;
      }
    }
  }
  for (const build of builds) await flush(build);
  await client.query('CLOSE rollup_build');
  return { rows, facts };
}

/** Writes (or replaces) the level's rows of the groups. */
async function writeRows(
  client: ClientBase,
  tenantId: number,
  level: Level,
  groups: readonly PeriodGroup[],
): Promise<void> {
  if (groups.length === 0) return;
  const sums = groups.map((g) => ({ ...g, row: g.sums.toRow() }));
  const keys: Column[] = [
    [level.period, 'bigint', sums.map((g) => g.period)],
    ['status', 'text', sums.map((g) => g.status)],
    ...(level.byCategory ? [['category', 'text', sums.map((g) => g.category!)] as Column] : []),
  ];
  const measures: Column[] = [
    ['orders', 'bigint', sums.map((g) => g.row.orders)],
    ['units', 'bigint', sums.map((g) => g.row.units)],
    ['revenue_cents', 'bigint', sums.map((g) => g.row.revenue_cents)],
    ...(level.byCategory
      ? [['order_value_cents', 'bigint', sums.map((g) => g.sums.orderValue)] as Column]
      : []),
    ['customers_hll', 'bytea', sums.map((g) => Buffer.from(g.row.customers_hll))],
    ['values_tdigest', 'bytea', sums.map((g) => Buffer.from(g.row.values_tdigest))],
    ['customers_exact', 'bytea', sums.map((g) => Buffer.from(g.row.customers_exact))],
    ['values_exact', 'bytea', sums.map((g) => Buffer.from(g.row.values_exact))],
  ];
  const columns = [...keys, ...measures];
  const names = columns.map(([name]) => name).join(', ');
  const stamp = level.stamped ? ', updated_at' : '';
  await client.query(
    `INSERT INTO ${level.table} (tenant_id, ${names}${stamp})
     SELECT $1, r.*${level.stamped ? ', now()' : ''}
       FROM unnest(${columns.map(([, type], i) => `$${i + 2}::${type}[]`).join(', ')}) AS r(${names})
     ON CONFLICT (tenant_id, ${keys.map(([name]) => name).join(', ')}) DO UPDATE
       SET ${measures.map(([name]) => `${name} = EXCLUDED.${name}`).join(', ')}${level.stamped ? ', updated_at = now()' : ''}`,
    [tenantId, ...columns.map(([, , values]) => values)],
  );
}

/** A column of the rows written: its name, its SQL type, and its values in row order. */
type Column = [name: string, type: 'bigint' | 'text' | 'bytea', values: unknown[]];

/** The groupings the pre-aggregated rows answer: by time over whole hours, by category over whole days. */
export type RollupGroup = Exclude<GroupBy, 'product'>;

/** Whether the pre-aggregated rows answer the request: by time over whole hours, by category over whole days. */
export function readsRollups(r: SalesRequest): r is SalesRequest & { groupBy: RollupGroup } {
  const unit = r.groupBy === 'category' ? DAY : HOUR;
  return r.groupBy !== 'product' && r.start % unit === 0 && r.end % unit === 0;
}

/** An answer from the pre-aggregated rows, or why it must come from the orders instead. */
export type RollupRead = { answer: SalesAnswer } | { notReady: string };

/** A run of periods [start, end) of one level. */
interface ReadPart {
  level: Level;
  start: number;
  end: number;
}

/**
 * Hours [startHour, endHour) as the day level's whole days and the hour level's hours around them (the
 * whole range by hour when it holds no whole day).
 */
function wholeDaysAndHours(startHour: number, endHour: number): ReadPart[] {
  const firstDay = Math.ceil(startHour / 24);
  const endDay = Math.floor(endHour / 24);
  if (firstDay >= endDay) return [{ level: HOURLY, start: startHour, end: endHour }];
  return [
    { level: HOURLY, start: startHour, end: firstDay * 24 },
    { level: DAILY, start: firstDay, end: endDay },
    { level: HOURLY, start: endDay * 24, end: endHour },
  ].filter((part) => part.end > part.start);
}

/**
 * The parts of the range and the level each is read from: by hour the hours; by day, week or month the
 * whole days and the hours around them; by category (whole days) its whole months by month and the days
 * around them by day.
 */
function readParts(r: SalesRequest & { groupBy: RollupGroup }): ReadPart[] {
  if (r.groupBy === 'hour') return [{ level: HOURLY, start: r.start / HOUR, end: r.end / HOUR }];
  if (r.groupBy !== 'category') return wholeDaysAndHours(r.start / HOUR, r.end / HOUR);
  return splitIntoMonths(r.start / DAY, r.end / DAY, new Set()).map((part) => ({
    ...part,
    level: part.level === 'month' ? MONTHLY_CATEGORY : DAILY_CATEGORY,
  }));
}

/**
 * Why the tenant's pre-aggregates cannot answer the range (never built, or a write touching one of its days
 * not folded in yet), or null when they can: asked inside the reader's snapshot, so what it then reads is
 * what this saw.
 */
export async function whyRollupsNotReady(
  client: Pick<ClientBase, 'query'>,
  tenantId: number,
  r: Pick<SalesRequest, 'start' | 'end'>,
): Promise<string | null> {
  const state = await client.query<{ built: boolean; pending: number }>(
    `SELECT EXISTS (SELECT 1 FROM rollup_watermark WHERE tenant_id = $1) AS built,
            (SELECT count(*)::integer FROM rollup_pending
              WHERE tenant_id = $1 AND days && ARRAY(SELECT generate_series($2::integer, $3::integer - 1))) AS pending`,
    [tenantId, Math.floor(r.start / DAY), Math.ceil(r.end / DAY)],
  );
  const { built, pending } = state.rows[0]!;
  if (!built) return "the tenant's pre-aggregates are being built for the first time";
  if (pending > 0)
    return `${pending} write transaction(s) in the range not folded into the pre-aggregates yet`;
  return null;
}

/**
 * Merges the range's rows by bucket (readParts: which level each part of the range is read from), in one
 * snapshot with the check that none of its days is pending (and that the tenant's rows were ever built):
 * their sums, and their sketches (approx) or their exact sorted lists (exact).
 */
export async function pgFromRollups(
  client: ClientBase,
  tenantId: number,
  r: SalesRequest & { groupBy: RollupGroup },
): Promise<RollupRead> {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    const notReady = await whyRollupsNotReady(client, tenantId, r);
    if (notReady) return { notReady };
    const g = r.groupBy;
    const buckets = new Map<string, SalesAggregate>();
    const rowsOf = new Map<Level, number>();
    // the default sale statuses read a time level's pre-merged row: one per period instead of three
    const parts = readParts(r);
    const premerged = isDefaultSale(r.statuses) && parts.every((part) => part.level.premerged);
    const statusKeys = premerged ? [DEFAULT_SALES_KEY] : r.statuses;
    let orders = 0;
    for (const { level, start, end } of parts) {
      const { rows } = await client.query<AggregateRow & { period: number; category?: string }>(
        `SELECT ${level.period}::float8 AS period, ${level.byCategory ? CATEGORY_COLUMNS : ''}orders::float8 AS orders,
                units::float8 AS units, revenue_cents::float8 AS revenue_cents, ${STRUCTURES[r.precision]}
           FROM ${level.table}
          WHERE tenant_id = $1 AND ${level.period} >= $2 AND ${level.period} < $3 AND status = ANY($4::text[])`,
        [tenantId, start, end, statusKeys],
      );
      for (const row of rows)
        aggregateFor(
          buckets,
          g === 'category' ? row.category! : timeKey(g, periodStart(level, row.period)),
        ).mergeRow(row);
      rowsOf.set(level, (rowsOf.get(level) ?? 0) + rows.length);
      // the orders merged (an order of two categories counts in each, as in the exact answer's rows)
      orders += rows.reduce((n, row) => n + row.orders, 0);
    }
    const read = [...rowsOf].map(([level, n]) => `${n} ${level.table} rows`).join(' + ');
    const exact = r.precision === 'exact';
    const bucketOf = exact ? exactBucket : approxBucket;
    const merged = exact
      ? 'exact sums, merged sorted lists of distinct customers and of order values'
      : 'exact sums, HyperLogLog, t-digest';
    return {
      answer: {
        data: [...buckets.entries()].map(([key, b]) => bucketOf(key, b)).sort(byBucketKey),
        rows: orders,
        method: `${r.precision}: ${[...rowsOf.keys()].map((level) => level.table).join(' + ')} on PostgreSQL (${read} merged by ${g}: ${merged}${premerged ? '; default statuses pre-merged' : ''})`,
      },
    };
  } finally {
    await client.query('COMMIT');
  }
}
