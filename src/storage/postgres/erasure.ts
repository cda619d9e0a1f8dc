/**
 * GDPR erasure on PostgreSQL (issue 17), the same answer as SQLite's (workers/privacy.ts): the customer
 * row keeps its id, so orders and aggregates do not change, but its customer_id, name and email become
 * tokens; stored idempotent responses and upload error logs quoting them are purged; an audit row is
 * written; all in one transaction. Then, once the transactions older than it have ended (they may still see
 * the old versions), the tenant's customers, idempotency and upload error partitions are rewritten (`VACUUM FULL`, one tenant's
 * partitions only, so no other tenant waits), which leaves the old row versions and index entries out of
 * the table files, as SQLite's secure_delete does. What PostgreSQL keeps beyond that: the WAL
 * segments and base backups that still hold old page images, until they are recycled or expire
 * (docs/postgres.md).
 */
import type { ClientBase } from 'pg';
import { erasedTokens } from '../../domain/erased-customer.js';
import { specOf, withCustomerColumns } from '../export-store.js';
import { PgExportStore } from './exports.js';
import { buildPgSearchSql, customerSearchText } from './search-sql.js';
import { partitionName } from './tenant-partitions.js';

/**
 * Complete export files that hold these customers' PII: exports with a customer column whose filters match
 * at least one of their orders (as SQLite's erasure reports them, workers/privacy.ts).
 */
async function exportsHolding(client: ClientBase, tenantId: number, customerPks: readonly number[]) {
  const holding: string[] = [];
  for (const row of withCustomerColumns(await new PgExportStore(client, tenantId).completed())) {
    const { filters } = specOf(row);
    for (const customerPk of customerPks) {
      const { sql, params } = buildPgSearchSql(
        tenantId,
        { ...filters, customerPk },
        ['order_id'],
        null,
        1,
        null,
      );
      if ((await client.query(sql, params)).rowCount) {
        holding.push(row.export_id);
        break;
      }
    }
  }
  return holding;
}

export interface PgErasure {
  customer_pks: number[];
  orders_kept: number;
  purged_idempotency_responses: number;
  purged_upload_errors: number;
  exports_containing: string[];
}

export async function pgEraseCustomer(
  client: ClientBase,
  tenantId: number,
  by: 'customer_id' | 'email',
  value: string,
  requestId: string,
  /**
   * Called when a session still held a snapshot older than the erasure after the wait: the rewrite must
   * keep the row versions it may see, so the old values stay in the files until a later vacuum.
   */
  onOldVersionsKept: () => void,
  now = Date.now(),
): Promise<PgErasure | null> {
  await client.query('BEGIN');
  let result: PgErasure | null;
  try {
    const { rows } = await client.query<{ pk: number; customer_id: string; name: string; email: string }>(
      `SELECT customer_pk::float8 AS pk, customer_id, name, email FROM customers
        WHERE tenant_id = $1 AND ${by === 'email' ? 'email' : 'customer_id'} = $2 AND erased_at IS NULL FOR UPDATE`,
      [tenantId, value],
    );
    if (rows.length === 0) {
      await client.query('ROLLBACK');
      return null;
    }
    let idem = 0;
    let uploads = 0;
    let orders = 0;
    for (const c of rows) {
      let purged = 0;
      let purgedErrors = 0;
      for (const pii of [c.email, c.name, c.customer_id]) {
        const deleted = await client.query(
          'DELETE FROM idempotency_keys WHERE tenant_id = $1 AND strpos(response_body, $2) > 0',
          [tenantId, pii],
        );
        purged += deleted.rowCount ?? 0;
        // an upload's error log quotes the rows it refused
        const errors = await client.query(
          'DELETE FROM upload_errors WHERE tenant_id = $1 AND (strpos(message, $2) > 0 OR order_id = $2)',
          [tenantId, pii],
        );
        purgedErrors += errors.rowCount ?? 0;
      }
      const tokens = erasedTokens(c.pk);
      await client.query(
        `UPDATE customers SET customer_id = $3, name = $4, email = $5, search = to_tsvector('simple', $6),
                erased_at = to_timestamp($7::float8 / 1000)
          WHERE tenant_id = $1 AND customer_pk = $2`,
        [
          tenantId,
          c.pk,
          tokens.customerId,
          tokens.name,
          tokens.email,
          customerSearchText(tokens.name, tokens.email),
          now,
        ],
      );
      await client.query(
        `INSERT INTO customer_erasures (tenant_id, customer_pk, erased_at, request_id, matched_by,
                                        purged_idempotency_responses, purged_upload_errors)
         VALUES ($1, $2, to_timestamp($3::float8 / 1000), $4, $5, $6, $7)`,
        [tenantId, c.pk, now, requestId, by, purged, purgedErrors],
      );
      idem += purged;
      uploads += purgedErrors;
      const counted = await client.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM orders WHERE tenant_id = $1 AND customer_pk = $2',
        [tenantId, c.pk],
      );
      orders += counted.rows[0]!.n;
    }
    await client.query('COMMIT');
    result = {
      customer_pks: rows.map((r) => r.pk),
      orders_kept: orders,
      purged_idempotency_responses: idem,
      purged_upload_errors: uploads,
      exports_containing: await exportsHolding(
        client,
        tenantId,
        rows.map((r) => r.pk),
      ),
    };
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  }
  if (!(await olderSnapshotsGone(client))) onOldVersionsKept();
  for (const table of ['customers', 'idempotency_keys', 'upload_errors'])
    await client.query(`VACUUM (FULL) ${client.escapeIdentifier(partitionName(table, tenantId))}`);
  return result;
}

/** How long an erasure waits for transactions older than it to end before it rewrites the partitions. */
const SNAPSHOT_WAIT_MS = 5000;

/**
 * Waits (up to SNAPSHOT_WAIT_MS) until no other session of the database is in a transaction begun before
 * the erasure committed that holds a snapshot or a transaction id: while one does, VACUUM must keep the old
 * row versions it (or a snapshot taken since, whose horizon it holds back) may still see. A write
 * transaction between two statements has no snapshot but still has its id (seen in CI: another suite's
 * writer, idle in its transaction, kept the erased values in the rewritten file). A session that outlasts
 * the wait leaves them until the next VACUUM (autovacuum, or the next erasure), and the caller is told.
 */
async function olderSnapshotsGone(client: ClientBase): Promise<boolean> {
  const { rows } = await client.query<{ at: Date }>('SELECT clock_timestamp() AS at');
  const committed = rows[0]!.at;
  const until = Date.now() + SNAPSHOT_WAIT_MS;
  while (Date.now() < until) {
    const { rows: older } = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid()
          AND (backend_xmin IS NOT NULL OR backend_xid IS NOT NULL) AND xact_start < $1`,
      [committed],
    );
    if (older[0]!.n === 0) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}
