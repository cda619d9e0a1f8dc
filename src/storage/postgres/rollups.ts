/**
 * Sales pre-aggregates on PostgreSQL (issue 17): one `rollup_daily` row per tenant, day and status, and one
 * `rollup_daily_category` row per tenant, day, category and status (sql/postgres/013), with exact sums and
 * the customers' HyperLogLog and the order values' t-digest as bytea, built and merged by the same code as
 * SQLite's (src/sketches). They are kept by a background refresher, never by a reader: every write
 * transaction names its days and orders in `rollup_pending` (sql/postgres/012), and the refresher takes
 * those rows and adds their orders to both levels in one transaction. A read by day, week, month or
 * category over whole days merges the rows when none of its days is pending, and answers from the orders
 * otherwise (saying why), so an approx answer never leaves out an acknowledged order.
 */
import type { ClientBase } from 'pg';
import { byBucketKey, DAY, type SalesRequest, type TimeGroup, timeKey } from '../../domain/sales.js';
import { approxBucket, type SalesAnswer } from '../../sales/buckets.js';
import { type AggregateRow, aggregateFor, SalesAggregate } from '../../sketches/sales-aggregate.js';
import { tryLockTenant } from './tenant-locks.js';
import { inTransaction } from './transaction.js';

/**
 * Pending rows taken per refresh (each names the orders of one write transaction, up to a commit's rows):
 * the orders they name are read at once.
 */
const PENDING_PER_REFRESH = 10;

/** Days whose rows are updated together when writes are folded in. */
const DAYS_PER_DELTA = 31;

/** Days whose groups are held while building: a week of groups' sketches in memory at a time. */
const DAYS_PER_WRITE = 7;

/** Facts fetched from the build's cursor at a time (orders, or an order's lines of one category). */
const FACTS_PER_FETCH = 20_000;

export interface RefreshOptions {
  /** facts fetched from the first build's cursor at a time (default FACTS_PER_FETCH; tests take a few) */
  factsPerFetch?: number;
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
): Promise<number[]> {
  const { rows } = await db.query<{ tenant_id: number }>(
    `SELECT tenant_id FROM rollup_pending GROUP BY tenant_id
      HAVING max(written_at) < now() - make_interval(secs => $1::float8 / 1000)
          OR min(written_at) < now() - make_interval(secs => $2::float8 / 1000)
     UNION
     SELECT t.tenant_id FROM tenants t
      WHERE NOT EXISTS (SELECT 1 FROM rollup_watermark w WHERE w.tenant_id = t.tenant_id)
     ORDER BY 1`,
    [quietMs, maxLagMs],
  );
  return rows.map((r) => r.tenant_id);
}

export interface RollupRefresh {
  /** the first build of the tenant's pre-aggregates (every day with orders) */
  firstBuild: boolean;
  /** pending rows taken (write transactions folded in) */
  writes: number;
  /** daily rows written */
  rows: number;
  /** orders read */
  orders: number;
}

/** One day, status (and category)'s orders, to add to its stored row (or to a fresh one). */
interface DayGroup {
  day: number;
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
  day: number;
  status: string;
  category?: string;
  customer: number;
  total: number;
  units: number;
  revenue?: number;
}

/** A table of pre-aggregated rows and how to read its facts from the orders (`o`) of a WHERE clause. */
interface Level {
  table: 'rollup_daily' | 'rollup_daily_category';
  /** the rows are per category as well (and keep their orders' totals apart from the lines' revenue) */
  byCategory: boolean;
  /** the table has an updated_at column */
  stamped: boolean;
  /** the facts of the orders of a WHERE clause on `o`, in day order (a refresh's few orders) */
  facts(where: string): string;
  /** the facts of every order of tenant $1, in day order (the first build: planned to read every row) */
  tenantFacts: string;
}

const DAILY: Level = {
  table: 'rollup_daily',
  byCategory: false,
  stamped: true,
  facts: (where) => `SELECT floor(extract(epoch FROM o.created_at) / 86400)::integer AS day, o.status,
      o.customer_pk::float8 AS customer, o.total_cents::float8 AS total, o.units
    FROM orders o WHERE ${where} ORDER BY 1`,
  get tenantFacts() {
    return this.facts('o.tenant_id = $1');
  },
};

/**
 * Each order's lines by category (as the exact answer groups them, src/storage/postgres/sales.ts). For a
 * refresh's orders the lines are looked up per order (LATERAL, through order_items' primary key): joined
 * as sets, the planner hashes the few orders against a scan of every line of the tenant. The first build
 * wants every line, so there the sets are joined (hashed), grouped and sorted once.
 */
const DAILY_CATEGORY: Level = {
  table: 'rollup_daily_category',
  byCategory: true,
  stamped: false,
  facts: (where) => `SELECT floor(extract(epoch FROM o.created_at) / 86400)::integer AS day, o.status,
      l.category, o.customer_pk::float8 AS customer, o.total_cents::float8 AS total, l.units, l.revenue
    FROM orders o CROSS JOIN LATERAL (
      SELECT p.category, sum(i.quantity)::float8 AS units, sum(i.quantity * i.unit_price_cents)::float8 AS revenue
        FROM order_items i JOIN products p ON p.tenant_id = i.tenant_id AND p.product_id = i.product_id
       WHERE i.tenant_id = o.tenant_id AND i.order_pk = o.order_pk
       GROUP BY p.category) l
   WHERE ${where} ORDER BY 1`,
  tenantFacts: `SELECT floor(extract(epoch FROM o.created_at) / 86400)::integer AS day, o.status,
      l.category, o.customer_pk::float8 AS customer, o.total_cents::float8 AS total, l.units, l.revenue
    FROM orders o JOIN (
      SELECT i.order_pk, p.category, sum(i.quantity)::float8 AS units,
             sum(i.quantity * i.unit_price_cents)::float8 AS revenue
        FROM order_items i JOIN products p ON p.tenant_id = i.tenant_id AND p.product_id = i.product_id
       WHERE i.tenant_id = $1
       GROUP BY i.order_pk, p.category) l ON l.order_pk = o.order_pk
   WHERE o.tenant_id = $1 ORDER BY 1`,
};

const LEVELS = [DAILY, DAILY_CATEGORY] as const;

/** What a category row has beyond a daily one, as read. */
const CATEGORY_COLUMNS = 'category, order_value_cents::float8 AS order_value_cents, ';

/**
 * Folds the tenant's pending writes into its daily rows, in one REPEATABLE READ transaction: the pending
 * rows taken and the orders read are of one snapshot, so every order is added exactly once (a write that
 * commits meanwhile keeps its pending row for the next refresh, and its orders are not seen by this one).
 * A write's orders are added to the rows of their days (sums, HyperLogLog and t-digest all take new
 * orders without a rebuild; orders never change afterwards), so a refresh reads only the new orders, not
 * every order of the days they touched. The first refresh of a tenant builds every day from its orders
 * and takes every pending row. Null when another refresher (another server) holds the tenant.
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
      const firstBuild =
        (await client.query('SELECT 1 FROM rollup_watermark WHERE tenant_id = $1', [t])).rowCount === 0;
      if (firstBuild) {
        const taken = await client.query('DELETE FROM rollup_pending WHERE tenant_id = $1', [t]);
        let rows = 0;
        let orders = 0;
        for (const level of LEVELS) {
          const built = await buildLevel(client, t, level, options.factsPerFetch ?? FACTS_PER_FETCH);
          rows += built.rows;
          if (level === DAILY) orders = built.facts;
        }
        await client.query(
          'INSERT INTO rollup_watermark (tenant_id, order_pk) SELECT $1, coalesce(max(order_pk), 0) FROM orders WHERE tenant_id = $1',
          [t],
        );
        return { firstBuild, writes: taken.rowCount ?? 0, rows, orders };
      }
      const taken = await client.query<{ order_pks: string[] }>(
        `DELETE FROM rollup_pending WHERE tenant_id = $1 AND seq IN
           (SELECT seq FROM rollup_pending WHERE tenant_id = $1 ORDER BY seq LIMIT $2)
         RETURNING order_pks`,
        [t, PENDING_PER_REFRESH],
      );
      const pks = taken.rows.flatMap((r) => r.order_pks);
      if (pks.length === 0) return { firstBuild, writes: 0, rows: 0, orders: 0 };
      let rows = 0;
      let orders = 0;
      for (const level of LEVELS) {
        const added = await client.query<OrderFacts>(
          level.facts('o.tenant_id = $1 AND o.order_pk = ANY($2::bigint[])'),
          [t, pks],
        );
        if (level === DAILY) orders = added.rows.length;
        // a month of days at a time: their groups' sketches are all that is held (a backfill's write
        // touches every day of the year; ~20 KB of sketches a day and status, and as much per category)
        for (let i = 0; i < added.rows.length; ) {
          let j = i;
          while (j < added.rows.length && added.rows[j]!.day < added.rows[i]!.day + DAYS_PER_DELTA) j++;
          rows += await addToDays(client, t, level, added.rows.slice(i, j));
          i = j;
        }
      }
      return { firstBuild, writes: taken.rowCount ?? 0, rows, orders };
    },
    'repeatable read',
  );
}

/** A group's key in its level: day, status and (category level) category. */
const groupKey = (g: { day: number; status: string; category?: string | undefined }) =>
  `${g.day}|${g.status}|${g.category ?? ''}`;

/**
 * Adds orders (of at most DAYS_PER_DELTA days) to the level's stored rows of their days; answers the rows
 * written.
 */
async function addToDays(
  client: ClientBase,
  tenantId: number,
  level: Level,
  orders: readonly OrderFacts[],
): Promise<number> {
  const groups = groupByDay(orders);
  const stored = await client.query<AggregateRow & { day: number; status: string; category?: string }>(
    `SELECT day::float8 AS day, status, ${level.byCategory ? CATEGORY_COLUMNS : ''}orders::float8 AS orders,
            units::float8 AS units, revenue_cents::float8 AS revenue_cents, customers_hll, values_tdigest
       FROM ${level.table} WHERE tenant_id = $1 AND day = ANY($2::bigint[])`,
    [tenantId, [...new Set([...groups.values()].map((g) => g.day))]],
  );
  for (const row of stored.rows) groups.get(groupKey(row))?.sums.mergeRow(row);
  await writeRows(client, tenantId, level, [...groups.values()]);
  return groups.size;
}

/** Facts grouped by day, status (and category), each group's sums filled from them. */
function groupByDay(orders: readonly OrderFacts[]): Map<string, DayGroup> {
  const groups = new Map<string, DayGroup>();
  addFacts(groups, orders);
  return groups;
}

/** Adds facts to their groups (by day, status and category), making the groups they are the first of. */
function addFacts(groups: Map<string, DayGroup>, orders: readonly OrderFacts[]): void {
  for (const o of orders) {
    const key = groupKey(o);
    let g = groups.get(key);
    if (!g) {
      g = { day: o.day, status: o.status, sums: new SalesAggregate() };
      if (o.category !== undefined) g.category = o.category;
      groups.set(key, g);
    }
    g.sums.addOrder(o.customer, o.total, o.units, o.revenue ?? o.total);
  }
}

/**
 * Builds every row of the level from the tenant's facts, read in day order through one cursor (one scan
 * and one sort, planned for reading every row: `cursor_tuple_fraction` 1), a week of days' groups held
 * and written at a time. Per-week queries cost a scan of the tenant's lines each: the first build of 200k
 * orders took 12.5–15 s that way, 4.7–5.8 s this way (docs/perf.md, PostgreSQL).
 */
async function buildLevel(
  client: ClientBase,
  tenantId: number,
  level: Level,
  factsPerFetch: number,
): Promise<{ rows: number; facts: number }> {
  await client.query('SET LOCAL cursor_tuple_fraction = 1');
  await client.query(`DECLARE rollup_build NO SCROLL CURSOR FOR ${level.tenantFacts}`, [tenantId]);
  let groups = new Map<string, DayGroup>();
  let firstDay = Number.NEGATIVE_INFINITY;
  let rows = 0;
  let facts = 0;
  const flush = async () => {
    await writeRows(client, tenantId, level, [...groups.values()]);
    rows += groups.size;
    groups = new Map();
  };
  for (;;) {
    const batch = await client.query<OrderFacts>(`FETCH ${factsPerFetch} FROM rollup_build`);
    if (batch.rows.length === 0) break;
    facts += batch.rows.length;
    let i = 0;
    while (i < batch.rows.length) {
      if (batch.rows[i]!.day >= firstDay + DAYS_PER_WRITE) {
        await flush();
        firstDay = batch.rows[i]!.day;
      }
      let j = i;
      while (j < batch.rows.length && batch.rows[j]!.day < firstDay + DAYS_PER_WRITE) j++;
      addFacts(groups, batch.rows.slice(i, j));
      i = j;
    }
  }
  await flush();
  await client.query('CLOSE rollup_build');
  return { rows, facts };
}

/** Writes (or replaces) the level's rows of the groups. */
async function writeRows(
  client: ClientBase,
  tenantId: number,
  level: Level,
  groups: readonly DayGroup[],
): Promise<void> {
  if (groups.length === 0) return;
  const sums = groups.map((g) => ({ ...g, row: g.sums.toRow() }));
  const keys: Column[] = [
    ['day', 'bigint', sums.map((g) => g.day)],
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

/** The groupings the pre-aggregated rows answer (over whole days). */
export type RollupGroup = Exclude<TimeGroup, 'hour'> | 'category';

/** Whether the request is one the pre-aggregated rows answer: by day, week, month or category over whole days. */
export function readsDailyRollups(r: SalesRequest): r is SalesRequest & { groupBy: RollupGroup } {
  return (
    (r.groupBy === 'day' || r.groupBy === 'week' || r.groupBy === 'month' || r.groupBy === 'category') &&
    r.start % DAY === 0 &&
    r.end % DAY === 0
  );
}

/** An approx answer from the daily rows, or why it must come from the orders instead. */
export type RollupRead = { answer: SalesAnswer } | { notReady: string };

/**
 * Merges the range's daily rows by bucket (its category rows by category), in one snapshot with the check
 * that none of its days is pending (and that the tenant's rows were ever built).
 */
export async function pgApproxFromRollups(
  client: ClientBase,
  tenantId: number,
  r: SalesRequest & { groupBy: RollupGroup },
): Promise<RollupRead> {
  const level = r.groupBy === 'category' ? DAILY_CATEGORY : DAILY;
  const firstDay = r.start / DAY;
  const endDay = r.end / DAY;
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    const state = await client.query<{ built: boolean; pending: number }>(
      `SELECT EXISTS (SELECT 1 FROM rollup_watermark WHERE tenant_id = $1) AS built,
              (SELECT count(*)::integer FROM rollup_pending
                WHERE tenant_id = $1 AND days && ARRAY(SELECT generate_series($2::integer, $3::integer - 1))) AS pending`,
      [tenantId, firstDay, endDay],
    );
    const { built, pending } = state.rows[0]!;
    if (!built) return { notReady: "the tenant's pre-aggregates are being built for the first time" };
    if (pending > 0)
      return {
        notReady: `${pending} write transaction(s) in the range not folded into the pre-aggregates yet`,
      };
    const { rows } = await client.query<AggregateRow & { day: number; category?: string }>(
      `SELECT day::float8 AS day, ${level.byCategory ? CATEGORY_COLUMNS : ''}orders::float8 AS orders,
              units::float8 AS units, revenue_cents::float8 AS revenue_cents, customers_hll, values_tdigest
         FROM ${level.table} WHERE tenant_id = $1 AND day >= $2 AND day < $3 AND status = ANY($4::text[])
        ORDER BY ${level.byCategory ? 'category' : 'day'}`,
      [tenantId, firstDay, endDay, r.statuses],
    );
    const g = r.groupBy;
    const buckets = new Map<string, SalesAggregate>();
    for (const row of rows)
      aggregateFor(buckets, g === 'category' ? row.category! : timeKey(g, row.day * DAY)).mergeRow(row);
    return {
      answer: {
        data: [...buckets.entries()].map(([key, b]) => approxBucket(key, b)).sort(byBucketKey),
        // the orders merged (an order of two categories counts in each, as in the exact answer's rows)
        rows: rows.reduce((n, row) => n + row.orders, 0),
        method: `approx: ${level.table} on PostgreSQL (${rows.length} rows merged by ${g}: exact sums, HyperLogLog, t-digest)`,
      },
    };
  } finally {
    await client.query('COMMIT');
  }
}
