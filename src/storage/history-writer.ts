import type { PriceSample, StockHistory } from '../domain/history-schema.js';
import { MultiRowInsert } from './multi-row.js';
import type { Db } from './sqlite.js';

/** Bulk loading of price samples and applied stock history (the dataset's history tables). */
export class HistoryWriter {
  private readonly prices: MultiRowInsert;
  private readonly stock: MultiRowInsert;

  constructor(db: Db) {
    this.prices = new MultiRowInsert(
      db,
      'INSERT INTO price_history (product_id, observed_at, price_cents, event_id)',
      4,
      'ON CONFLICT DO NOTHING',
    );
    this.stock = new MultiRowInsert(
      db,
      `INSERT INTO stock_events (event_id, product_id, mode, delta, quantity, expected_version, occurred_at,
        applied_at, stock_after, version_after)`,
      10,
      'ON CONFLICT DO NOTHING',
    );
  }

  /** Inserts price samples inside the caller's transaction. */
  writePrices(rows: readonly PriceSample[]): { inserted: number } {
    return {
      inserted: this.prices.run(
        rows.map((r) => [r.product_id, r.observed_at, r.price_cents, r.event_id ?? null]),
      ),
    };
  }

  /** Inserts applied stock history inside the caller's transaction. */
  writeStock(rows: readonly StockHistory[], now = Date.now()): { inserted: number } {
    return {
      inserted: this.stock.run(
        rows.map((r) => [
          r.event_id,
          r.product_id,
          'merge',
          r.delta,
          null,
          null,
          r.occurred_at,
          now,
          r.stock_after,
          r.version_after,
        ]),
      ),
    };
  }
}
