/**
 * Sales pre-aggregates on PostgreSQL (issue 17): one `rollup_daily` row per tenant, day and status, with
 * exact sums and the customers' HyperLogLog and the order values' t-digest as bytea, built and merged by
 * the same code as SQLite's (src/sketches). They are kept by a background refresher, never by a reader:
 * every write transaction names its days and orders in `rollup_pending` (sql/postgres/012), and the
 * refresher takes those rows and adds their orders to the daily rows in one transaction. A read by day,
 * week or month over whole days merges the rows when none of its days is pending, and answers from the
 * orders otherwise (saying why), so an approx answer never leaves out an acknowledged order.
 */
import type { ClientBase } from 'pg';
import { DAY, type SalesRequest, type TimeGroup, timeKey } from '../../domain/sales.js';
import { approxBucket, type SalesAnswer } from '../../sales/buckets.js';
import { type AggregateRow, SalesAggregate } from '../../sketches/sales-aggregate.js';
import { inTransaction } from './transaction.js';

/** The advisory lock class of a tenant's refresh (its second key is the tenant id): one refresher at a time. */
const ROLLUP_REFRESH_LOCK = 7_140_023;

/**
 * Pending rows taken per refresh (each names the orders of one write transaction, up to a commit's rows):
 * the orders they name are read at once.
 */
const PENDING_PER_REFRESH = 10;

/** Days whose rows are updated together when writes are folded in. */
const DAYS_PER_DELTA = 31;

/** Days read from the orders per query while rebuilding: a week of orders in memory at a time. */
const DAYS_PER_READ = 7;

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

/** One day and status's orders, to add to its stored row (or to a fresh one). */
interface DayGroup {
  day: number;
  status: string;
  sums: SalesAggregate;
}

/** An order as the pre-aggregates take it. */
interface OrderFacts {
  day: number;
  status: string;
  customer: number;
  total: number;
  units: number;
}

const ORDER_FACTS = `floor(extract(epoch FROM created_at) / 86400)::integer AS day, status,
  customer_pk::float8 AS customer, total_cents::float8 AS total, units`;

/**
 * Folds the tenant's pending writes into its daily rows, in one REPEATABLE READ transaction: the pending
 * rows taken and the orders read are of one snapshot, so every order is added exactly once (a write that
 * commits meanwhile keeps its pending row for the next refresh, and its orders are not seen by this one).
 * A write's orders are added to the rows of their days (sums, HyperLogLog and t-digest all take new
 * orders without a rebuild; orders never change afterwards), so a refresh reads only the new orders, not
 * every order of the days they touched. The first refresh of a tenant builds every day from its orders
 * and takes every pending row. Null when another refresher (another server) holds the tenant.
 */
export function refreshTenantRollups(client: ClientBase, tenantId: number): Promise<RollupRefresh | null> {
  const t = tenantId;
  return inTransaction(
    client,
    async () => {
      const locked = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock($1, $2) AS ok', [
        ROLLUP_REFRESH_LOCK,
        t,
      ]);
      if (!locked.rows[0]!.ok) return null;
      const firstBuild =
        (await client.query('SELECT 1 FROM rollup_watermark WHERE tenant_id = $1', [t])).rowCount === 0;
      if (firstBuild) {
        const taken = await client.query('DELETE FROM rollup_pending WHERE tenant_id = $1', [t]);
        const all = await client.query<{ day: number }>(
          'SELECT DISTINCT floor(extract(epoch FROM created_at) / 86400)::integer AS day FROM orders WHERE tenant_id = $1 ORDER BY 1',
          [t],
        );
        const days = all.rows.map((r) => r.day);
        let rows = 0;
        let orders = 0;
        for (let i = 0; i < days.length; i += DAYS_PER_READ) {
          const built = await buildDays(client, t, days.slice(i, i + DAYS_PER_READ));
          rows += built.rows;
          orders += built.orders;
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
      const added = await client.query<OrderFacts>(
        `SELECT ${ORDER_FACTS} FROM orders WHERE tenant_id = $1 AND order_pk = ANY($2::bigint[]) ORDER BY 1`,
        [t, pks],
      );
      // a month of days at a time: their groups' sketches are all that is held (a backfill's write
      // touches every day of the year; ~20 KB of sketches a day and status)
      let rows = 0;
      for (let i = 0; i < added.rows.length; ) {
        let j = i;
        while (j < added.rows.length && added.rows[j]!.day < added.rows[i]!.day + DAYS_PER_DELTA) j++;
        rows += await addToDays(client, t, added.rows.slice(i, j));
        i = j;
      }
      return { firstBuild, writes: taken.rowCount ?? 0, rows, orders: added.rows.length };
    },
    'repeatable read',
  );
}

/** Adds orders (of at most DAYS_PER_DELTA days) to the stored rows of their days; answers the rows written. */
async function addToDays(
  client: ClientBase,
  tenantId: number,
  orders: readonly OrderFacts[],
): Promise<number> {
  const groups = groupByDay(orders);
  const stored = await client.query<AggregateRow & { day: number; status: string }>(
    `SELECT day::float8 AS day, status, orders::float8 AS orders, units::float8 AS units,
            revenue_cents::float8 AS revenue_cents, customers_hll, values_tdigest
       FROM rollup_daily WHERE tenant_id = $1 AND day = ANY($2::bigint[])`,
    [tenantId, [...new Set([...groups.values()].map((g) => g.day))]],
  );
  for (const row of stored.rows) groups.get(`${row.day}|${row.status}`)?.sums.mergeRow(row);
  await writeDailyRows(client, tenantId, [...groups.values()]);
  return groups.size;
}

/** Orders grouped by day and status, each group's sums filled from them. */
function groupByDay(orders: readonly OrderFacts[]): Map<string, DayGroup> {
  const groups = new Map<string, DayGroup>();
  for (const o of orders) {
    const key = `${o.day}|${o.status}`;
    let g = groups.get(key);
    if (!g) {
      g = { day: o.day, status: o.status, sums: new SalesAggregate() };
      groups.set(key, g);
    }
    g.sums.addOrder(o.customer, o.total, o.units);
  }
  return groups;
}

/** Builds the daily rows of `days` (ascending, at most a week apart) from their orders. */
async function buildDays(
  client: ClientBase,
  tenantId: number,
  days: readonly number[],
): Promise<{ rows: number; orders: number }> {
  const { rows } = await client.query<OrderFacts>(
    `SELECT ${ORDER_FACTS} FROM orders
      WHERE tenant_id = $1 AND created_at >= to_timestamp($2::float8 * 86400)
        AND created_at < to_timestamp(($3::float8 + 1) * 86400)`,
    [tenantId, days[0], days.at(-1)],
  );
  const groups = groupByDay(rows);
  await writeDailyRows(client, tenantId, [...groups.values()]);
  return { rows: groups.size, orders: rows.length };
}

/** Writes (or replaces) the daily rows of the groups. */
async function writeDailyRows(
  client: ClientBase,
  tenantId: number,
  groups: readonly DayGroup[],
): Promise<void> {
  if (groups.length === 0) return;
  const rows = groups.map((g) => ({ ...g, row: g.sums.toRow() }));
  await client.query(
    `INSERT INTO rollup_daily (tenant_id, day, status, orders, units, revenue_cents, customers_hll, values_tdigest, updated_at)
     SELECT $1, r.*, now()
       FROM unnest($2::bigint[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bytea[], $8::bytea[])
         AS r(day, status, orders, units, revenue_cents, customers_hll, values_tdigest)
     ON CONFLICT (tenant_id, day, status) DO UPDATE
       SET orders = EXCLUDED.orders, units = EXCLUDED.units, revenue_cents = EXCLUDED.revenue_cents,
           customers_hll = EXCLUDED.customers_hll, values_tdigest = EXCLUDED.values_tdigest, updated_at = now()`,
    [
      tenantId,
      rows.map((r) => r.day),
      rows.map((r) => r.status),
      rows.map((r) => r.row.orders),
      rows.map((r) => r.row.units),
      rows.map((r) => r.row.revenue_cents),
      rows.map((r) => Buffer.from(r.row.customers_hll)),
      rows.map((r) => Buffer.from(r.row.values_tdigest)),
    ],
  );
}

/** Whether the request is one the daily rows answer: by day, week or month over whole days. */
export function readsDailyRollups(r: SalesRequest): r is SalesRequest & { groupBy: TimeGroup } {
  return (
    (r.groupBy === 'day' || r.groupBy === 'week' || r.groupBy === 'month') &&
    r.start % DAY === 0 &&
    r.end % DAY === 0
  );
}

/** An approx answer from the daily rows, or why it must come from the orders instead. */
export type RollupRead = { answer: SalesAnswer } | { notReady: string };

/**
 * Merges the daily rows of the range by bucket, in one snapshot with the check that none of its days is
 * pending (and that the tenant's rows were ever built).
 */
export async function pgApproxFromRollups(
  client: ClientBase,
  tenantId: number,
  r: SalesRequest & { groupBy: TimeGroup },
): Promise<RollupRead> {
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
    const { rows } = await client.query<{
      day: number;
      orders: number;
      units: number;
      revenue_cents: number;
      customers_hll: Buffer;
      values_tdigest: Buffer;
    }>(
      `SELECT day::float8 AS day, orders::float8 AS orders, units::float8 AS units,
              revenue_cents::float8 AS revenue_cents, customers_hll, values_tdigest
         FROM rollup_daily WHERE tenant_id = $1 AND day >= $2 AND day < $3 AND status = ANY($4::text[])
        ORDER BY day`,
      [tenantId, firstDay, endDay, r.statuses],
    );
    const buckets = new Map<string, SalesAggregate>();
    for (const row of rows) {
      const key = timeKey(r.groupBy, row.day * DAY);
      let b = buckets.get(key);
      if (!b) {
        b = new SalesAggregate();
        buckets.set(key, b);
      }
      b.mergeRow(row);
    }
    return {
      answer: {
        data: [...buckets.entries()].map(([key, b]) => approxBucket(key, b)),
        rows: rows.reduce((n, row) => n + row.orders, 0),
        method: `approx: rollup_daily on PostgreSQL (${rows.length} daily rows merged by ${r.groupBy}: exact sums, HyperLogLog, t-digest)`,
      },
    };
  } finally {
    await client.query('COMMIT');
  }
}
