import { ByteBudget } from '../domain/byte-budget.js';
import type { Metrics } from '../obs/metrics.js';
import type { WorkerPool } from '../pool/pool.js';
import { Problem } from './problem.js';

export interface AdmissionLimits {
  maxQueue: number;
  maxQueuePerTenant: number;
  maxIngestPendingBytes: number;
}

/**
 * Admission control for requests that add pool work. When the pool's queue is at its bound, or the tenant
 * already has its share of it waiting (one tenant must not fill the queue and leave the others 429s), or
 * ingest has too many uncommitted bytes in flight, the request is refused at once with 429, Retry-After
 * from the observed drain rate, and the queue figures in the body (`scope`: whose bound it met). Cheap
 * endpoints never pass through here.
 */
export class Admission {
  /** Ingest bytes cut into chunks and not yet committed, over every request and upload. */
  readonly ingestBudget: ByteBudget;

  constructor(
    private readonly pool: WorkerPool,
    private readonly limits: AdmissionLimits,
    private readonly metrics: Metrics,
  ) {
    this.ingestBudget = new ByteBudget(limits.maxIngestPendingBytes, (held) =>
      metrics.ingestPendingBytes.set(held),
    );
  }

  check(kind: 'work' | 'ingest', tenantId: number): void {
    const queued = this.pool.queueSize;
    const wouldWait = this.pool.activeTasks >= this.pool.capacity;
    if (wouldWait && this.pool.queuedFor(tenantId) >= this.limits.maxQueuePerTenant)
      this.refuse('tenant_queue_full', queued, 'tenant');
    if (wouldWait && queued >= this.limits.maxQueue) this.refuse('queue_full', queued, 'server');
    if (kind === 'ingest' && this.ingestBudget.exhausted) {
      this.refuse('ingest_backlog', queued, 'server');
    }
  }

  /** Whether new pool work would be refused now (what /readyz reports as saturation). */
  saturated(): boolean {
    return this.pool.activeTasks >= this.pool.capacity && this.pool.queueSize >= this.limits.maxQueue;
  }

  private refuse(
    reason: 'queue_full' | 'tenant_queue_full' | 'ingest_backlog',
    queued: number,
    scope: 'tenant' | 'server',
  ): never {
    this.metrics.admissionRejected.inc({ reason });
    const delay = this.pool.expectedDelaySeconds();
    throw new Problem('overloaded', `The server is at capacity (${reason}); retry after ${delay} s.`, {
      headers: { 'Retry-After': String(delay) },
      extra: { queue_length: queued, expected_delay_s: delay, reason, scope },
    });
  }
}
