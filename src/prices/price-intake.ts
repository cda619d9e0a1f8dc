import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { Config } from '../config/load.js';
import {
  type AnomalyPolicy,
  DEFAULT_POLICY,
  type PriceEventRecord,
  type PriceOutcome,
} from '../domain/price.js';
import { type Decision, RateLimiter, rateLimitHeaders, type TokenBuckets } from '../http/rate-limit.js';
import type { Metrics } from '../obs/metrics.js';
import type { WorkerPool } from '../pool/pool.js';
import { PgRateLimiter } from '../storage/postgres/rate-buckets.js';
import type { AnomalyBus } from './anomaly-bus.js';
import { GroupCommitter } from './group-commit.js';

/** A price event as the webhook gives it, once validated. */
export interface PriceEventInput {
  eventId: string;
  productId: number;
  priceCents: number;
  observedAt: number;
}

/** The rate limits' verdict on one event: its RateLimit headers either way. */
export interface Admitted {
  allowed: boolean;
  headers: Record<string, string>;
}

/**
 * The price webhook's service: per-product and per-tenant rate limits, the anomaly policy, group commit
 * of concurrent events into one worker transaction, and the anomalies it records, told to this process's
 * listeners (the SSE streams) as they commit.
 */
export class PriceIntake {
  readonly policy: AnomalyPolicy;
  private readonly perProduct: TokenBuckets;
  private readonly perTenant: TokenBuckets;
  private readonly committer: GroupCommitter<PriceEventRecord, PriceOutcome>;

  constructor(
    pool: WorkerPool,
    settings: Config['prices'],
    private readonly metrics: Metrics,
    /** where this process's change streams hear of anomalies */
    private readonly anomalies: AnomalyBus,
    /**
     * The PostgreSQL every server shares, or null (SQLite: one process). Shared, the rate buckets are there,
     * and the database announces each anomaly to every server (LISTEN/NOTIFY), so this intake does not.
     */
    shared: Pick<pg.Pool, 'query'> | null = null,
  ) {
    this.policy = {
      ...DEFAULT_POLICY,
      thresholdPct: settings.thresholdPct,
      medianPct: settings.thresholdPct * 2,
    };
    const budgets = {
      product: { name: 'product', perSecond: settings.ratePerProduct, burst: settings.burstPerProduct },
      tenant: { name: 'tenant', perSecond: settings.ratePerTenant, burst: settings.burstPerTenant },
    };
    // on PostgreSQL every server takes from the same buckets; otherwise this process keeps its own
    this.perProduct = shared ? new PgRateLimiter(budgets.product, shared) : new RateLimiter(budgets.product);
    this.perTenant = shared ? new PgRateLimiter(budgets.tenant, shared) : new RateLimiter(budgets.tenant);
    this.committer = new GroupCommitter(async (tenantId, events) => {
      const outcomes = await pool.run('priceEvents', {
        requestId: 'group-commit',
        tenantId,
        policy: this.policy,
        events,
      });
      if (!shared)
        for (const o of outcomes)
          if (o.kind === 'created' && o.result.anomaly) this.anomalies.announce(tenantId, o.result);
      return outcomes;
    });
  }

  /** Takes one event from the product's and the tenant's budgets; a refusal is counted. */
  async admit(tenantId: number, productId: number): Promise<Admitted> {
    const decisions: Decision[] = await Promise.all([
      this.perProduct.take(`${tenantId}:${productId}`),
      this.perTenant.take(String(tenantId)),
    ]);
    const allowed = decisions.every((d) => d.allowed);
    if (!allowed) this.metrics.admissionRejected.inc({ reason: 'rate_limited' });
    return { allowed, headers: rateLimitHeaders(decisions) };
  }

  /** Records the event (with others that arrived at once, in one transaction) and answers its outcome. */
  record(tenantId: number, event: PriceEventInput): Promise<PriceOutcome> {
    // the same event_id with this fingerprint is a replay; with another, a reuse (422)
    const fingerprint = createHash('sha256')
      .update(JSON.stringify([event.productId, event.priceCents, event.observedAt]))
      .digest('base64url');
    return this.committer.submit(tenantId, {
      event_id: event.eventId,
      product_id: event.productId,
      price_cents: event.priceCents,
      observed_at: event.observedAt,
      fingerprint,
    });
  }
}
