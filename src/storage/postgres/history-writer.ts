/**
 * Price samples and applied stock history into PostgreSQL (issue 17): the dataset loader's history tables,
 * with the SQLite writer's outcomes (src/storage/history-writer.ts): a row whose key is already stored is
 * left as it is and counted a duplicate. A batch goes in with `COPY` into a temporary staging table, then
 * one `INSERT … SELECT … ON CONFLICT DO NOTHING`, as orders do (order-writer.ts).
 */
import type { ClientBase } from 'pg';
import type { PriceSample, StockHistory } from '../../domain/history-schema.js';
import { copyInto, copyLine } from './copy-text.js';

/** Staging tables, one set per connection, emptied by every commit. */
const STAGING = `
  CREATE TEMP TABLE IF NOT EXISTS stage_prices (
    product_id bigint, observed_ms bigint, price_cents bigint, event_id text
  ) ON COMMIT DELETE ROWS;
  CREATE TEMP TABLE IF NOT EXISTS stage_stock (
    event_id text, product_id bigint, delta bigint, occurred_ms bigint, stock_after bigint, version_after bigint
  ) ON COMMIT DELETE ROWS`;

const INSERT_PRICES = `
  INSERT INTO price_history (tenant_id, product_id, observed_at, price_cents, event_id)
  SELECT $1, product_id, to_timestamp(observed_ms / 1000.0), price_cents, event_id FROM pg_temp.stage_prices
  ON CONFLICT DO NOTHING`;

/** History is applied: mode merge, stamped as applied now, like the SQLite loader's rows. */
const INSERT_STOCK = `
  INSERT INTO stock_events (tenant_id, event_id, product_id, mode, delta, quantity, expected_version,
    occurred_at, applied_at, stock_after, version_after)
  SELECT $1, event_id, product_id, 'merge', delta, NULL, NULL, to_timestamp(occurred_ms / 1000.0),
         to_timestamp($2 / 1000.0), stock_after, version_after FROM pg_temp.stage_stock
  ON CONFLICT DO NOTHING`;

/**
 * Every product's stock and version set to those after its last applied event (highest version), once the
 * history is loaded: what SQLite's settleStock task does on a shard.
 */
const SETTLE_STOCK = `
  UPDATE products p SET stock = s.stock_after, stock_version = s.version_after
    FROM (SELECT DISTINCT ON (product_id) product_id, stock_after, version_after
            FROM stock_events WHERE tenant_id = $1
           ORDER BY product_id, version_after DESC) AS s
   WHERE p.tenant_id = $1 AND p.product_id = s.product_id`;

/** A tenant's history tables on one connection (the caller holds it and the transaction). */
export class PgHistoryWriter {
  private staged = false;

  constructor(
    private readonly client: ClientBase,
    private readonly tenantId: number,
  ) {}

  /** Inserts price samples inside the caller's transaction. */
  writePrices(rows: readonly PriceSample[]): Promise<{ inserted: number }> {
    const lines = rows.map((r) => copyLine([r.product_id, r.observed_at, r.price_cents, r.event_id ?? null]));
    return this.insertStaged('pg_temp.stage_prices', lines, INSERT_PRICES, [this.tenantId]);
  }

  /** Inserts applied stock history inside the caller's transaction. */
  writeStock(rows: readonly StockHistory[], now = Date.now()): Promise<{ inserted: number }> {
    const lines = rows.map((r) =>
      copyLine([r.event_id, r.product_id, r.delta, r.occurred_at, r.stock_after, r.version_after]),
    );
    return this.insertStaged('pg_temp.stage_stock', lines, INSERT_STOCK, [this.tenantId, now]);
  }

  /**
   * `lines` copied into the staging table `stage`, inserted from it by `insert`, and the stage emptied for
   * the next part of the same transaction; answers the rows inserted.
   */
  private async insertStaged(
    stage: string,
    lines: string[],
    insert: string,
    params: unknown[],
  ): Promise<{ inserted: number }> {
    if (!this.staged) {
      await this.client.query(STAGING);
      this.staged = true;
    }
    await copyInto(this.client, stage, lines);
    const out = await this.client.query(insert, params);
    await this.client.query(`TRUNCATE ${stage}`);
    return { inserted: out.rowCount ?? 0 };
  }

  /** Products' stock and version from their last applied event; answers the products changed. */
  async settleStock(): Promise<number> {
    return (await this.client.query(SETTLE_STOCK, [this.tenantId])).rowCount ?? 0;
  }
}
