/**
 * Stock on PostgreSQL (issue 17), the same outcomes as SQLite's (workers/stock.ts) for the same requests:
 * one transaction per request; the request's products locked with `SELECT … FOR UPDATE` in ascending id
 * order (concurrent requests, on this server or another, queue behind each other product by product and
 * never deadlock); event ids already applied found after the locks are held, so a retry racing its
 * original applies nothing twice; one savepoint per product, so a product whose write fails rolls back
 * alone. The rules themselves are the domain's (src/domain/stock.ts, applyGroup).
 */
import type { ClientBase } from 'pg';
import type { ValidProduct } from '../../domain/order-schema.js';
import {
  applyGroup,
  eventsByProduct,
  type GroupOutcome,
  groupResult,
  type ProductResult,
  type ProductStock,
  type StockEvent,
  type StockMode,
  unknownProductResult,
  writeFailedResult,
} from '../../domain/stock.js';
import { rethrowStorageFault } from '../storage-fault.js';
import { inTransaction } from './transaction.js';

const LOCK_PRODUCTS = `
  SELECT product_id::float8 AS id, stock::float8 AS stock, stock_version::float8 AS version,
         (extract(epoch FROM stock_written_at) * 1000)::float8 AS "writtenAt"
    FROM products WHERE tenant_id = $1 AND product_id = ANY($2::bigint[])
   ORDER BY product_id FOR UPDATE`;

const SEEN = 'SELECT event_id FROM stock_events WHERE tenant_id = $1 AND event_id = ANY($2::text[])';

const UPDATE = `
  UPDATE products SET stock = $3, stock_version = $4, stock_written_at = to_timestamp($5::float8 / 1000),
         updated_at = to_timestamp($6::float8 / 1000)
   WHERE tenant_id = $1 AND product_id = $2`;

const AUDIT = `
  INSERT INTO stock_events (tenant_id, event_id, product_id, mode, delta, quantity, expected_version,
                            occurred_at, applied_at, stock_after, version_after)
  SELECT $1, e.event_id, $2, $3, e.delta, e.quantity, e.expected_version, to_timestamp(e.occurred_at / 1000),
         to_timestamp($4::float8 / 1000), e.stock_after, $5
    FROM unnest($6::text[], $7::bigint[], $8::bigint[], $9::bigint[], $10::float8[], $11::bigint[])
      AS e (event_id, delta, quantity, expected_version, occurred_at, stock_after)`;

/** Every applied product's new state in one statement. */
const UPDATE_ALL = `
  UPDATE products p SET stock = u.stock, stock_version = u.version,
         stock_written_at = to_timestamp(u.written_at / 1000), updated_at = to_timestamp($2::float8 / 1000)
    FROM unnest($3::bigint[], $4::bigint[], $5::bigint[], $6::float8[]) AS u (id, stock, version, written_at)
   WHERE p.tenant_id = $1 AND p.product_id = u.id`;

/** Every applied event's audit row in one statement. */
const AUDIT_ALL = `
  INSERT INTO stock_events (tenant_id, event_id, product_id, mode, delta, quantity, expected_version,
                            occurred_at, applied_at, stock_after, version_after)
  SELECT $1, e.event_id, e.product_id, $2, e.delta, e.quantity, e.expected_version,
         to_timestamp(e.occurred_at / 1000), to_timestamp($3::float8 / 1000), e.stock_after, e.version_after
    FROM unnest($4::text[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::float8[], $10::bigint[],
                $11::bigint[])
      AS e (event_id, product_id, delta, quantity, expected_version, occurred_at, stock_after, version_after)`;

interface Write {
  productId: number;
  before: ProductStock;
  outcome: GroupOutcome;
  index: number;
}

/** One product's write under its own savepoint, so its failure rolls back alone. */
async function writeOne(
  client: ClientBase,
  tenantId: number,
  mode: StockMode,
  w: Write,
  now: number,
): Promise<Error | null> {
  await client.query('SAVEPOINT product');
  try {
    await client.query(UPDATE, [
      tenantId,
      w.productId,
      w.outcome.stock,
      w.outcome.version,
      w.outcome.writtenAt,
      now,
    ]);
    const applied = w.outcome.applied;
    await client.query(AUDIT, [
      tenantId,
      w.productId,
      mode,
      now,
      w.outcome.version,
      applied.map((a) => a.event.event_id),
      applied.map((a) => a.event.delta ?? null),
      applied.map((a) => a.event.quantity ?? null),
      applied.map((a) => a.event.expected_version ?? null),
      applied.map((a) => a.event.occurred_at),
      applied.map((a) => a.stockAfter),
    ]);
    await client.query('RELEASE SAVEPOINT product');
    return null;
  } catch (error) {
    rethrowStorageFault(error);
    await client.query('ROLLBACK TO SAVEPOINT product');
    return error as Error;
  }
}

/**
 * Every applied product's writes in two statements (the locks are held for a few round trips, not four per
 * product: concurrent requests on hot products wait that much less); if they fail, each product is
 * written alone under its savepoint, so only the one that fails is failed.
 */
async function writeAll(
  client: ClientBase,
  tenantId: number,
  mode: StockMode,
  writes: readonly Write[],
  now: number,
): Promise<Map<number, Error>> {
  const failed = new Map<number, Error>();
  if (writes.length === 0) return failed;
  await client.query('SAVEPOINT bulk');
  try {
    await client.query(UPDATE_ALL, [
      tenantId,
      now,
      writes.map((w) => w.productId),
      writes.map((w) => w.outcome.stock),
      writes.map((w) => w.outcome.version),
      writes.map((w) => w.outcome.writtenAt),
    ]);
    const events = writes.flatMap((w) => w.outcome.applied.map((a) => ({ w, a })));
    await client.query(AUDIT_ALL, [
      tenantId,
      mode,
      now,
      events.map(({ a }) => a.event.event_id),
      events.map(({ w }) => w.productId),
      events.map(({ a }) => a.event.delta ?? null),
      events.map(({ a }) => a.event.quantity ?? null),
      events.map(({ a }) => a.event.expected_version ?? null),
      events.map(({ a }) => a.event.occurred_at),
      events.map(({ a }) => a.stockAfter),
      events.map(({ w }) => w.outcome.version),
    ]);
    await client.query('RELEASE SAVEPOINT bulk');
  } catch (error) {
    rethrowStorageFault(error); // no product would succeed either
    await client.query('ROLLBACK TO SAVEPOINT bulk');
    for (const w of writes) {
      const error = await writeOne(client, tenantId, mode, w, now);
      if (error) failed.set(w.productId, error);
    }
  }
  return failed;
}

export async function pgStockBulk(
  client: ClientBase,
  tenantId: number,
  mode: StockMode,
  events: readonly StockEvent[],
  now = Date.now(),
): Promise<ProductResult[]> {
  const { ids, of } = eventsByProduct(events);
  return inTransaction(client, async () => {
    const locked = await client.query<ProductStock & { id: number }>(LOCK_PRODUCTS, [tenantId, ids]);
    const current = new Map(locked.rows.map((r) => [r.id, r]));
    const seen = await client.query<{ event_id: string }>(SEEN, [tenantId, events.map((e) => e.event_id)]);
    const alreadyApplied = new Set(seen.rows.map((r) => r.event_id));
    const results: ProductResult[] = [];
    const writes: Write[] = [];
    for (const productId of ids) {
      const before = current.get(productId);
      if (!before) {
        results.push(unknownProductResult(productId));
        continue;
      }
      const outcome = applyGroup(mode, before, of.get(productId)!, alreadyApplied);
      if (outcome.applied.length > 0) writes.push({ productId, before, outcome, index: results.length });
      results.push(groupResult(productId, outcome));
    }
    const failed = await writeAll(client, tenantId, mode, writes, now);
    for (const w of writes) {
      const error = failed.get(w.productId);
      if (error) results[w.index] = writeFailedResult(results[w.index]!, w.before, error);
    }
    return results;
  });
}

/** The stored product as the API shows it, or null. */
export async function pgGetProduct(
  db: Pick<ClientBase, 'query'>,
  tenantId: number,
  productId: number,
): Promise<(Omit<ValidProduct, 'tenant_id'> & { stock_version: number; updated_at: string }) | null> {
  const { rows } = await db.query(
    `SELECT product_id::float8 AS product_id, sku, name, category, price_cents::float8 AS price_cents, currency,
            stock::float8 AS stock, stock_version::float8 AS stock_version, updated_at
       FROM products WHERE tenant_id = $1 AND product_id = $2`,
    [tenantId, productId],
  );
  const row = rows[0];
  return row ? { ...row, updated_at: (row.updated_at as Date).toISOString() } : null;
}
