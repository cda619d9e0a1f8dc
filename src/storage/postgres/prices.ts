/**
 * Price events on PostgreSQL (issue 17), the same outcomes as SQLite's (workers/prices.ts): a batch of
 * events (group commit) in one transaction, in arrival order, each seeing the ones before it; an event_id
 * stored before is a replay (same fingerprint) or a mismatch. Several servers may take events for one
 * product at once: the product row is locked (`FOR UPDATE`) while its event is assessed against its last
 * accepted price and recent history, and a concurrent duplicate event_id meets the unique key
 * (`ON CONFLICT DO NOTHING`, then the stored row is read). Each anomaly is announced with `pg_notify`
 * in the same transaction, so every server's change stream hears of it when it commits
 * (src/prices/anomaly-notifications.ts).
 */
import type { ClientBase } from 'pg';
import {
  type AnomalyPolicy,
  assessPrice,
  type PriceEventRecord,
  type PriceEventResult,
  type PriceOutcome,
  priceEventResult,
  type StoredPriceEvent,
} from '../../domain/price.js';
import { Where } from '../where.js';
import { numbered } from './placeholders.js';
import { inTransaction } from './transaction.js';

/** The channel anomalies are announced on; the payload is the tenant id and the event, as JSON. */
export const ANOMALY_CHANNEL = 'orderflow_price_anomalies';

const EVENT_COLUMNS = `seq::float8 AS seq, event_id, product_id::float8 AS product_id,
  previous_price_cents::float8 AS previous_price_cents, price_cents::float8 AS price_cents, change_pct, anomaly,
  reason, status, fingerprint, observed_at`;

/** A price_events row as PostgreSQL hands it over (a boolean flag, a Date). */
type EventRow = StoredPriceEvent;

/** The tenant's own anomaly threshold (admin API) over the server default; the median rule scales with it. */
async function policyOf(client: ClientBase, tenantId: number, policy: AnomalyPolicy): Promise<AnomalyPolicy> {
  const { rows } = await client.query<{ value: string }>(
    "SELECT value FROM shard_meta WHERE tenant_id = $1 AND name = 'price_threshold_pct'",
    [tenantId],
  );
  const own = rows[0];
  return own ? { ...policy, thresholdPct: Number(own.value), medianPct: 2 * Number(own.value) } : policy;
}

async function recordOne(
  client: ClientBase,
  tenantId: number,
  policy: AnomalyPolicy,
  e: PriceEventRecord,
  now: number,
): Promise<PriceOutcome> {
  const stored = async (): Promise<PriceOutcome> => {
    const { rows } = await client.query<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM price_events WHERE tenant_id = $1 AND event_id = $2`,
      [tenantId, e.event_id],
    );
    const existing = rows[0]!;
    return existing.fingerprint === e.fingerprint
      ? { kind: 'replayed', result: priceEventResult(existing) }
      : { kind: 'mismatch' };
  };
  const seen = await client.query('SELECT 1 FROM price_events WHERE tenant_id = $1 AND event_id = $2', [
    tenantId,
    e.event_id,
  ]);
  if (seen.rowCount) return stored();
  const product = await client.query<{ price_cents: number }>(
    'SELECT price_cents::float8 AS price_cents FROM products WHERE tenant_id = $1 AND product_id = $2 FOR UPDATE',
    [tenantId, e.product_id],
  );
  if (!product.rows[0]) return { kind: 'unknown_product' };
  const previous = product.rows[0].price_cents;
  const recent = await client.query<{ price_cents: number }>(
    `SELECT price_cents::float8 AS price_cents FROM price_history WHERE tenant_id = $1 AND product_id = $2
      ORDER BY observed_at DESC LIMIT $3`,
    [tenantId, e.product_id, policy.medianWindow],
  );
  const a = assessPrice(
    previous,
    recent.rows.map((r) => r.price_cents),
    e.price_cents,
    policy,
  );
  const inserted = await client.query<EventRow>(
    `INSERT INTO price_events (tenant_id, event_id, product_id, previous_price_cents, price_cents, change_pct, anomaly,
                               status, reason, fingerprint, observed_at, received_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, to_timestamp($11::float8 / 1000), to_timestamp($12::float8 / 1000))
     ON CONFLICT (tenant_id, event_id) DO NOTHING RETURNING ${EVENT_COLUMNS}`,
    [
      tenantId,
      e.event_id,
      e.product_id,
      previous,
      e.price_cents,
      a.change_pct,
      a.anomaly,
      a.anomaly ? 'review' : 'accepted',
      a.reasons.join(',') || null,
      e.fingerprint,
      e.observed_at,
      now,
    ],
  );
  if (!inserted.rows[0]) return stored(); // another server stored it meanwhile
  await client.query(
    `INSERT INTO price_history (tenant_id, product_id, observed_at, price_cents, event_id)
     VALUES ($1, $2, to_timestamp($3::float8 / 1000), $4, $5) ON CONFLICT DO NOTHING`,
    [tenantId, e.product_id, e.observed_at, e.price_cents, e.event_id],
  );
  if (!a.anomaly)
    await client.query(
      `UPDATE products SET price_cents = $3, price_observed_at = to_timestamp($4::float8 / 1000),
              updated_at = to_timestamp($5::float8 / 1000)
        WHERE tenant_id = $1 AND product_id = $2
          AND (price_observed_at IS NULL OR price_observed_at <= to_timestamp($4::float8 / 1000))`,
      [tenantId, e.product_id, e.price_cents, e.observed_at, now],
    );
  const result = priceEventResult(inserted.rows[0]);
  if (result.anomaly)
    await client.query('SELECT pg_notify($1, $2)', [ANOMALY_CHANNEL, JSON.stringify({ tenantId, result })]);
  return { kind: 'created', result };
}

export function pgPriceEvents(
  client: ClientBase,
  tenantId: number,
  policy: AnomalyPolicy,
  events: readonly PriceEventRecord[],
  now = Date.now(),
): Promise<PriceOutcome[]> {
  return inTransaction(client, async () => {
    const effective = await policyOf(client, tenantId, policy);
    const outcomes: PriceOutcome[] = [];
    for (const e of events) outcomes.push(await recordOne(client, tenantId, effective, e, now));
    return outcomes;
  });
}

export interface AnomalyFilter {
  productId: number | null;
  afterSeq: number | null;
  since?: number;
  until?: number;
  status?: string;
  limit: number;
  ascending?: boolean;
}

/** Flagged events, newest first (or oldest first after a sequence, for the stream). */
export async function pgListAnomalies(
  db: Pick<ClientBase, 'query'>,
  tenantId: number,
  q: AnomalyFilter,
): Promise<PriceEventResult[]> {
  const where = new Where('anomaly')
    .when(tenantId, 'tenant_id = ?', tenantId)
    .when(q.productId, 'product_id = ?', q.productId)
    .when(q.afterSeq, q.ascending ? 'seq > ?' : 'seq < ?', q.afterSeq)
    .when(q.since, 'observed_at >= to_timestamp(?::float8 / 1000)', q.since)
    .when(q.until, 'observed_at < to_timestamp(?::float8 / 1000)', q.until)
    .when(q.status || undefined, 'status = ?', q.status);
  const sql = `SELECT ${EVENT_COLUMNS} FROM price_events${where.sql()} ORDER BY seq ${q.ascending ? 'ASC' : 'DESC'} LIMIT ?`;
  const { rows } = await db.query<EventRow>(numbered(sql), [...where.params, q.limit]);
  return rows.map(priceEventResult);
}

export async function pgReviewPriceEvent(
  db: Pick<ClientBase, 'query'>,
  tenantId: number,
  eventId: string,
  status: string,
): Promise<PriceEventResult | null> {
  const { rows } = await db.query<EventRow>(
    `UPDATE price_events SET status = $3 WHERE tenant_id = $1 AND event_id = $2 RETURNING ${EVENT_COLUMNS}`,
    [tenantId, eventId, status],
  );
  return rows[0] ? priceEventResult(rows[0]) : null;
}

/** The tenant's settings (shard_meta, as on SQLite), after writing `set` when given. */
export async function pgTenantSettings(
  db: Pick<ClientBase, 'query'>,
  tenantId: number,
  set?: Record<string, string>,
): Promise<Record<string, string>> {
  for (const [name, value] of Object.entries(set ?? {}))
    await db.query(
      `INSERT INTO shard_meta (tenant_id, name, value) VALUES ($1, $2, $3)
       ON CONFLICT (tenant_id, name) DO UPDATE SET value = EXCLUDED.value`,
      [tenantId, name, value],
    );
  const { rows } = await db.query<{ name: string; value: string }>(
    'SELECT name, value FROM shard_meta WHERE tenant_id = $1',
    [tenantId],
  );
  return Object.fromEntries(rows.map((r) => [r.name, r.value]));
}
