/**
 * Sales metrics on PostgreSQL (issue 17), read from the orders themselves: every grouping, exact, the same
 * answers as SQLite's `source=orders` scan (src/sales/exact-scan.ts, whose accumulators this feeds). The
 * pre-aggregates and sketches are not built on PostgreSQL yet, so both precisions are answered this way
 * (an approx request gets exact numbers, and no error bounds). Rows come through a server-side cursor in
 * batches, so a worker holds one batch at a time whatever the range.
 */
import type { ClientBase } from 'pg';
import { isTimeGroup, type SalesRequest } from '../../domain/sales.js';
import type { SalesAnswer } from '../../sales/buckets.js';
import {
  addGroupRows,
  addTimeRows,
  finishGroups,
  GroupAccumulator,
  type ItemLine,
  type TimeRow,
} from '../../sales/exact-scan.js';
import { inTransaction } from './transaction.js';

/** Rows fetched from the cursor per round trip. */
const BATCH = 5000;

const RANGE = `o.tenant_id = $1 AND o.created_at >= to_timestamp($2::float8 / 1000)
  AND o.created_at < to_timestamp($3::float8 / 1000) AND o.status = ANY($4::text[])`;

const TIME_SCAN = `
  SELECT o.order_pk::float8 AS order_pk, (extract(epoch FROM o.created_at) * 1000)::float8 AS created_at,
         o.customer_pk::float8 AS customer_pk, o.total_cents::float8 AS total_cents,
         (SELECT sum(i.quantity) FROM order_items i WHERE i.tenant_id = o.tenant_id AND i.order_pk = o.order_pk)::float8 AS units
    FROM orders o WHERE ${RANGE} ORDER BY o.created_at`;

const groupScan = (key: 'category' | 'product') => `
  SELECT ${key === 'category' ? 'p.category' : 'i.product_id::float8'} AS k, i.order_pk::float8 AS order_pk,
         i.quantity, i.unit_price_cents::float8 AS unit_price_cents, o.customer_pk::float8 AS customer_pk,
         o.total_cents::float8 AS total_cents
    FROM orders o JOIN order_items i ON i.tenant_id = o.tenant_id AND i.order_pk = o.order_pk
    ${key === 'category' ? 'JOIN products p ON p.tenant_id = i.tenant_id AND p.product_id = i.product_id' : ''}
   WHERE ${RANGE} ORDER BY ${key === 'category' ? 'p.category COLLATE "C"' : 'i.product_id'}, i.order_pk`;

/** Feeds each batch of a cursor over `sql` to `take`; the cursor lives in a transaction of its own. */
async function throughCursor<T>(
  client: ClientBase,
  sql: string,
  params: unknown[],
  take: (rows: T[]) => void,
): Promise<void> {
  await inTransaction(client, async () => {
    await client.query(`DECLARE sales_scan NO SCROLL CURSOR FOR ${sql}`, params);
    for (;;) {
      const { rows } = await client.query<T & Record<string, unknown>>(`FETCH ${BATCH} FROM sales_scan`);
      take(rows);
      if (rows.length < BATCH) break;
    }
  });
}

export async function pgSalesFromOrders(
  client: ClientBase,
  tenantId: number,
  r: SalesRequest,
): Promise<SalesAnswer> {
  const acc = new GroupAccumulator();
  const params = [tenantId, r.start, r.end, r.statuses];
  let rows = 0;
  const groupBy = r.groupBy;
  if (isTimeGroup(groupBy))
    await throughCursor<TimeRow>(client, TIME_SCAN, params, (batch) => {
      rows += addTimeRows(acc, groupBy, batch);
    });
  else
    await throughCursor<ItemLine & { k: string | number }>(
      client,
      groupScan(groupBy === 'category' ? 'category' : 'product'),
      params,
      (batch) => {
        rows += addGroupRows(acc, batch);
      },
    );
  return {
    data: finishGroups(acc, r),
    rows,
    method: `exact: read from the orders on PostgreSQL (a server-side cursor, grouped by ${r.groupBy}); the pre-aggregates are not built there yet`,
  };
}
