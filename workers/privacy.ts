import type { Database } from 'better-sqlite3';
import { erasedTokens } from '../src/domain/erased-customer.js';
import type { TaskBase } from '../src/pool/protocol.js';
import { ExportStore, specOf } from '../src/storage/export-store.js';
import { pgEraseCustomer } from '../src/storage/postgres/erasure.js';
import { buildSearchSql } from '../src/storage/search-sql.js';
import { onPostgres, withPostgres } from '../src/worker/postgres.js';
import { defineTask, type TaskContext } from '../src/worker/worker-context.js';

export interface EraseInput extends TaskBase {
  by: 'customer_id' | 'email';
  value: string;
}

export interface ErasureResult {
  customer_pks: number[];
  orders_kept: number;
  purged_idempotency_responses: number;
  purged_upload_errors: number;
  exports_containing: string[];
}

/**
 * Complete export files that hold this customer's PII: exports with a customer column whose filters match
 * at least one of the customer's orders (as of now; an order ingested after an export finished is counted
 * too, so the list errs on the side of naming a file).
 */
function exportsHolding(db: Database, customerPks: readonly number[]): string[] {
  return new ExportStore(db)
    .completeWithCustomerColumns()
    .filter((row) => {
      const spec = specOf(row);
      return customerPks.some((customerPk) => {
        const { sql, params } = buildSearchSql({ ...spec.filters, customerPk }, ['order_id'], null, 1);
        return db.prepare(sql).get(...params) !== undefined;
      });
    })
    .map((row) => row.export_id);
}

/**
 * GDPR erasure, in one transaction under the shard lock: the customer row keeps its integer id (orders,
 * rollups and sketches refer to it, so aggregates do not change) but its customer_id, name and email are
 * replaced by tokens; the FTS index follows through its trigger and is then optimised so the old terms
 * leave its pages; stored responses and upload error logs quoting the PII are purged; an audit row is
 * written. secure_delete zeroes freed bytes, and a TRUNCATE checkpoint removes old page images from the
 * WAL, so the PII is gone from the files, not only from queries.
 */
export const eraseCustomer = defineTask(
  'eraseCustomer',
  (ctx, input: EraseInput): ErasureResult | null | Promise<ErasureResult | null> =>
    onPostgres(ctx) ? eraseOnPostgres(ctx, input) : eraseOnSqlite(ctx, input),
);

function eraseOnPostgres(ctx: TaskContext, input: EraseInput): Promise<ErasureResult | null> {
  return withPostgres(ctx, 'erase_customer', (client) =>
    pgEraseCustomer(client, input.tenantId, input.by, input.value, input.requestId, () =>
      ctx.log.warn(
        { tenant_id: input.tenantId },
        'erasure: a session held an older snapshot past the wait; the old row versions stay in the files until a later vacuum',
      ),
    ),
  );
}

function eraseOnSqlite(ctx: TaskContext, input: EraseInput): ErasureResult | null {
  const db = ctx.shards.db(input.tenantId);
  return ctx.lock.withLock(input.tenantId, () =>
    ctx.obs.timeQuery('erase_customer', () => {
      db.pragma('secure_delete = ON');
      try {
        const result = db
          .transaction((): ErasureResult | null => {
            const rows = db
              .prepare(
                `SELECT customer_pk, customer_id, name, email FROM customers WHERE ${input.by === 'email' ? 'email' : 'customer_id'} = ? AND erased_at IS NULL`,
              )
              .all(input.value) as {
              customer_pk: number;
              customer_id: string;
              name: string;
              email: string;
            }[];
            if (rows.length === 0) return null;
            const now = Date.now();
            let idem = 0;
            let uploads = 0;
            const purgeIdem = db.prepare('DELETE FROM idempotency_keys WHERE instr(response_body, ?) > 0');
            const purgeUploads = db.prepare(
              'DELETE FROM upload_errors WHERE instr(message, ?) > 0 OR order_id = ?',
            );
            const erase = db.prepare(
              'UPDATE customers SET customer_id = ?, name = ?, email = ?, erased_at = ? WHERE customer_pk = ?',
            );
            const audit = db.prepare(
              'INSERT INTO customer_erasures (customer_pk, erased_at, request_id, matched_by, purged_idempotency_responses, purged_upload_errors) VALUES (?, ?, ?, ?, ?, ?)',
            );
            let orders = 0;
            for (const c of rows) {
              let i = 0;
              let u = 0;
              for (const pii of [c.email, c.name, c.customer_id]) {
                i += purgeIdem.run(pii).changes;
                u += purgeUploads.run(pii, pii).changes;
              }
              const tokens = erasedTokens(c.customer_pk);
              erase.run(tokens.customerId, tokens.name, tokens.email, now, c.customer_pk);
              audit.run(c.customer_pk, now, input.requestId, input.by, i, u);
              idem += i;
              uploads += u;
              orders += (
                db.prepare('SELECT count(*) AS n FROM orders WHERE customer_pk = ?').get(c.customer_pk) as {
                  n: number;
                }
              ).n;
            }
            // merge FTS segments so the deleted terms are rewritten out of the index pages
            db.prepare("INSERT INTO customers_fts (customers_fts) VALUES ('optimize')").run();
            return {
              customer_pks: rows.map((r) => r.customer_pk),
              orders_kept: orders,
              purged_idempotency_responses: idem,
              purged_upload_errors: uploads,
              exports_containing: exportsHolding(
                db,
                rows.map((r) => r.customer_pk),
              ),
            };
          })
          .immediate();
        db.pragma('wal_checkpoint(TRUNCATE)');
        return result;
      } finally {
        db.pragma('secure_delete = OFF');
      }
    }),
  );
}
