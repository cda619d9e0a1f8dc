import {
  type AnomalyPolicy,
  assessPrice,
  type PriceEventRecord,
  type PriceEventResult,
  type PriceOutcome,
  priceEventResult,
  type StoredPriceEvent,
} from '../src/domain/price.js';
import type { TaskBase } from '../src/pool/protocol.js';
import {
  pgListAnomalies,
  pgPriceEvents,
  pgReviewPriceEvent,
  pgTenantSettings,
} from '../src/storage/postgres/prices.js';
import type { Db } from '../src/storage/sqlite.js';
import { Where } from '../src/storage/where.js';
import { onPostgres, withPostgres } from '../src/worker/postgres.js';
import { defineTask } from '../src/worker/worker-context.js';

/** A price_events row as SQLite stores it (the flag as 0/1, the time as epoch ms). */
type EventRow = StoredPriceEvent;

function statements(db: Db) {
  return {
    byId: db.prepare('SELECT * FROM price_events WHERE event_id = ?'),
    product: db.prepare('SELECT price_cents FROM products WHERE product_id = ?'),
    recent: db.prepare(
      'SELECT price_cents FROM price_history WHERE product_id = ? ORDER BY observed_at DESC LIMIT ?',
    ),
    insert: db.prepare(
      `INSERT INTO price_events (event_id, product_id, previous_price_cents, price_cents, change_pct, anomaly, status, reason,
         fingerprint, observed_at, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *`,
    ),
    history: db.prepare(
      'INSERT INTO price_history (product_id, observed_at, price_cents, event_id) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING',
    ),
    threshold: db.prepare("SELECT value FROM shard_meta WHERE name = 'price_threshold_pct'"),
    accept: db.prepare(
      `UPDATE products SET price_cents = ?, price_observed_at = ?, updated_at = ?
       WHERE product_id = ? AND (price_observed_at IS NULL OR price_observed_at <= ?)`,
    ),
  };
}

/**
 * Group commit: every event that arrived together is written in one transaction (one fsync at the
 * next checkpoint, not one per event), in arrival order, each seeing the ones before it. An event_id
 * already stored is a replay (same body) or a mismatch (another body); the unique index makes a
 * concurrent duplicate impossible, and the write lock serialises batches.
 */
export const priceEvents = defineTask(
  'priceEvents',
  async (
    ctx,
    input: TaskBase & { policy: AnomalyPolicy; events: PriceEventRecord[] },
  ): Promise<PriceOutcome[]> => {
    if (onPostgres(ctx))
      return withPostgres(
        ctx,
        'price_events_batch',
        (client) => pgPriceEvents(client, input.tenantId, input.policy, input.events),
        // a rerun after a commit finds its events stored: replays, not doubles
        { rerunnable: true },
      );
    const db = ctx.shards.db(input.tenantId);
    const s = ctx.shards.cached(input.tenantId, 'priceStatements', statements);
    const now = Date.now();
    // a tenant's own threshold (admin API) overrides the server default; the median rule scales with it
    const own = s.threshold.get() as { value: string } | undefined;
    const policy = own
      ? { ...input.policy, thresholdPct: Number(own.value), medianPct: 2 * Number(own.value) }
      : input.policy;
    return ctx.lock.withLock(input.tenantId, () =>
      ctx.obs.timeQuery('price_events_batch', () =>
        db
          .transaction(() =>
            input.events.map((e): PriceOutcome => {
              const existing = s.byId.get(e.event_id) as EventRow | undefined;
              if (existing)
                return existing.fingerprint === e.fingerprint
                  ? { kind: 'replayed', result: priceEventResult(existing) }
                  : { kind: 'mismatch' };
              const product = s.product.get(e.product_id) as { price_cents: number } | undefined;
              if (!product) return { kind: 'unknown_product' };
              const recent = (
                s.recent.all(e.product_id, policy.medianWindow) as { price_cents: number }[]
              ).map((r) => r.price_cents);
              const a = assessPrice(product.price_cents, recent, e.price_cents, policy);
              const row = s.insert.get(
                e.event_id,
                e.product_id,
                product.price_cents,
                e.price_cents,
                a.change_pct,
                a.anomaly ? 1 : 0,
                a.anomaly ? 'review' : 'accepted',
                a.reasons.join(',') || null,
                e.fingerprint,
                e.observed_at,
                now,
              ) as EventRow;
              s.history.run(e.product_id, e.observed_at, e.price_cents, e.event_id);
              if (!a.anomaly) s.accept.run(e.price_cents, e.observed_at, now, e.product_id, e.observed_at);
              return { kind: 'created', result: priceEventResult(row) };
            }),
          )
          .immediate(),
      ),
    );
  },
);

export interface AnomalyQuery extends TaskBase {
  productId: number | null;
  afterSeq: number | null;
  since?: number;
  until?: number;
  status?: string;
  limit: number;
  /** oldest first (for the change stream) instead of newest first */
  ascending?: boolean;
}

/** Flagged events, newest first (or oldest first after a sequence, for the stream). */
export const listAnomalies = defineTask(
  'listAnomalies',
  async (ctx, q: AnomalyQuery): Promise<PriceEventResult[]> => {
    if (onPostgres(ctx))
      return withPostgres(ctx, 'price_anomalies_list', (client) => pgListAnomalies(client, q.tenantId, q), {
        rerunnable: true,
      });
    const where = new Where('anomaly = 1')
      .when(q.productId, 'product_id = ?', q.productId)
      .when(q.afterSeq, q.ascending ? 'seq > ?' : 'seq < ?', q.afterSeq)
      .when(q.since, 'observed_at >= ?', q.since)
      .when(q.until, 'observed_at < ?', q.until)
      .when(q.status || undefined, 'status = ?', q.status);
    const sql = `SELECT * FROM price_events${where.sql()} ORDER BY seq ${q.ascending ? 'ASC' : 'DESC'} LIMIT ?`;
    const rows = ctx.obs.timeQuery('price_anomalies_list', () =>
      ctx.shards
        .db(q.tenantId)
        .prepare(sql)
        .all(...where.params, q.limit),
    ) as EventRow[];
    return rows.map(priceEventResult);
  },
);

export const reviewPriceEvent = defineTask(
  'reviewPriceEvent',
  async (ctx, q: TaskBase & { eventId: string; status: string }): Promise<PriceEventResult | null> => {
    if (onPostgres(ctx))
      return withPostgres(
        ctx,
        'price_event_review',
        (client) => pgReviewPriceEvent(client, q.tenantId, q.eventId, q.status),
        { rerunnable: true },
      );
    const db = ctx.shards.db(q.tenantId);
    return ctx.lock.withLock(q.tenantId, () => {
      const row = db
        .prepare('UPDATE price_events SET status = ? WHERE event_id = ? RETURNING *')
        .get(q.status, q.eventId) as EventRow | undefined;
      return row ? priceEventResult(row) : null;
    });
  },
);

/** Per-tenant settings kept in the tenant's own shard. */
export const tenantSettings = defineTask(
  'tenantSettings',
  async (ctx, q: TaskBase & { set?: Record<string, string> }): Promise<Record<string, string>> => {
    if (onPostgres(ctx))
      return withPostgres(ctx, 'tenant_settings', (client) => pgTenantSettings(client, q.tenantId, q.set), {
        rerunnable: true,
      });
    const db = ctx.shards.db(q.tenantId);
    if (q.set) {
      ctx.lock.withLock(q.tenantId, () => {
        const put = db.prepare(
          'INSERT INTO shard_meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value',
        );
        db.transaction(() => {
          for (const [name, value] of Object.entries(q.set!)) put.run(name, value);
        })();
      });
    }
    return Object.fromEntries(
      (db.prepare('SELECT name, value FROM shard_meta').all() as { name: string; value: string }[]).map(
        (r) => [r.name, r.value],
      ),
    );
  },
);
