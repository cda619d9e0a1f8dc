import type { ValidProduct } from '../src/domain/order-schema.js';
import {
  applyGroup,
  eventsByProduct,
  groupResult,
  type ProductResult,
  type StockEvent,
  type StockMode,
  unknownProductResult,
  writeFailedResult,
} from '../src/domain/stock.js';
import type { TaskBase } from '../src/pool/protocol.js';
import { pgGetProduct, pgStockBulk } from '../src/storage/postgres/stock.js';
import type { Db } from '../src/storage/sqlite.js';
import { rethrowStorageFault } from '../src/storage/storage-fault.js';
import { onPostgres, withPostgres } from '../src/worker/postgres.js';
import { defineTask } from '../src/worker/worker-context.js';

export interface StockBulkInput extends TaskBase {
  mode: StockMode;
  events: StockEvent[];
}

function statements(db: Db) {
  return {
    product: db.prepare(
      'SELECT stock, stock_version AS version, stock_written_at AS writtenAt FROM products WHERE product_id = ?',
    ),
    seen: db.prepare('SELECT event_id FROM stock_events WHERE event_id IN (SELECT value FROM json_each(?))'),
    update: db.prepare(
      'UPDATE products SET stock = ?, stock_version = ?, stock_written_at = ?, updated_at = ? WHERE product_id = ?',
    ),
    audit: db.prepare(
      `INSERT INTO stock_events (event_id, product_id, mode, delta, quantity, expected_version, occurred_at, applied_at, stock_after, version_after)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
  };
}

/**
 * One request = one write transaction under the shard lock (so concurrent requests serialise into some
 * order), one savepoint per product, products in ascending id order. A product's events apply all or
 * none; other products are unaffected.
 */
export const stockBulk = defineTask('stockBulk', async (ctx, input: StockBulkInput) => {
  if (onPostgres(ctx))
    return withPostgres(ctx, 'stock_bulk_update', (client) =>
      pgStockBulk(client, input.tenantId, input.mode, input.events),
    );
  const db = ctx.shards.db(input.tenantId);
  const s = ctx.shards.cached(input.tenantId, 'stockStatements', statements);
  const { ids: productIds, of: byProduct } = eventsByProduct(input.events);
  const now = Date.now();
  return ctx.lock.withLock(input.tenantId, () =>
    ctx.obs.timeQuery('stock_bulk_update', () =>
      db
        .transaction(() => {
          const alreadyApplied = new Set(
            (s.seen.all(JSON.stringify(input.events.map((e) => e.event_id))) as { event_id: string }[]).map(
              (r) => r.event_id,
            ),
          );
          const results: ProductResult[] = [];
          for (const productId of productIds) {
            const events = byProduct.get(productId)!;
            const current = s.product.get(productId) as
              | { stock: number; version: number; writtenAt: number | null }
              | undefined;
            if (!current) {
              results.push(unknownProductResult(productId));
              continue;
            }
            const outcome = applyGroup(input.mode, current, events, alreadyApplied);
            let result = groupResult(productId, outcome);
            if (outcome.applied.length > 0) {
              try {
                db.transaction(() => {
                  s.update.run(outcome.stock, outcome.version, outcome.writtenAt, now, productId);
                  for (const a of outcome.applied) {
                    const e = a.event;
                    s.audit.run(
                      e.event_id,
                      productId,
                      input.mode,
                      e.delta ?? null,
                      e.quantity ?? null,
                      e.expected_version ?? null,
                      e.occurred_at,
                      now,
                      a.stockAfter,
                      outcome.version,
                    );
                  }
                })(); // nested: a savepoint, rolled back alone if this product fails
              } catch (error) {
                rethrowStorageFault(error);
                result = writeFailedResult(result, current, error as Error);
              }
            }
            results.push(result);
          }
          return results;
        })
        .immediate(),
    ),
  );
});

/** The stored product: what ingest took, plus its stock version and last change. */
export interface ProductView extends Omit<ValidProduct, 'tenant_id'> {
  stock_version: number;
  updated_at: string;
}

export const getProduct = defineTask(
  'getProduct',
  async (ctx, input: TaskBase & { productId: number }): Promise<ProductView | null> => {
    if (onPostgres(ctx))
      return withPostgres(
        ctx,
        'product_get',
        (client) => pgGetProduct(client, input.tenantId, input.productId),
        {
          rerunnable: true,
        },
      );
    const row = ctx.obs.timeQuery('product_get', () =>
      ctx.shards
        .cached(input.tenantId, 'productGet', (db) =>
          db.prepare(
            'SELECT product_id, sku, name, category, price_cents, currency, stock, stock_version, updated_at FROM products WHERE product_id = ?',
          ),
        )
        .get(input.productId),
    ) as (Omit<ProductView, 'updated_at'> & { updated_at: number }) | undefined;
    return row ? { ...row, updated_at: new Date(row.updated_at).toISOString() } : null;
  },
);
